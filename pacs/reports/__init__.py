"""Radiology reports: drafts, signing, amendments, templates, PDF and the copy in the archive.

``models`` (ORM), ``service`` (data functions, caller frames the transaction), ``pdf`` (the
printable report with the hospital header), ``archive`` (a signed report back into the archive
as DICOM Encapsulated PDF, through the same ingest path as C-STORE).
"""
