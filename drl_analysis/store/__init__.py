"""The survey database (SQLite or PostgreSQL): tables, writing one submission
per transaction, loading and exporting.
"""

from .database import export_csv, load_exposures, load_table, make_engine

__all__ = ["export_csv", "load_exposures", "load_table", "make_engine"]
