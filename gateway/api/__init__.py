"""REST API routers (``/api/...``) other than authentication and administration."""
