"""Pure builders: records → lxml elements (one module per QĐ 130 table), envelope, check-in.

No database, no clock, no I/O: the caller passes everything, including "now".
"""
