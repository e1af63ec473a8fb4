"""Health-insurance claims: clinic records and the QĐ 130 XML (XML0–XML15), validated and signed."""
