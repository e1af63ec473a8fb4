"""The DICOM index: models, ingest, queries."""
