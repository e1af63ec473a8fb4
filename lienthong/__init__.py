"""Lienthong: shared shell (settings, database, CLI, migrations)."""
