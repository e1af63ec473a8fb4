"""DICOM DIMSE services (SCP) built on pynetdicom."""
