"""The PACS: DICOM network services, instance storage and the index."""
