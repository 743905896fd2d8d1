"""shopmig's Alembic migration environment (``script_location`` = this folder)."""
