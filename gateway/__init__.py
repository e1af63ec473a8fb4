"""HTTP gateway: FastAPI app (health now; DICOMweb, REST API, auth and audit later)."""
