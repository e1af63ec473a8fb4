"""REST API routers (JSON): the hospital's other systems, the reading worklist and reports."""
