"""REST API routers (JSON) for the hospital's other systems."""
