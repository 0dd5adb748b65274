"""The reader under test: the only module of the forge that imports the package
(besides the catalogue CSV it reads). Change the imports here when the API moves."""

from drl_analysis.ingest import ingest_paths
from drl_analysis.store import load_exposures, load_table

__all__ = ["ingest_paths", "load_exposures", "load_table"]
