"""Survey submissions in: read workbooks and CSV files, find headers, repair
rows, flag implausible values, and hand records to :mod:`drl_analysis.store`.
"""

from .batch import FileOutcome, IngestSummary, ingest_paths, read_submission, sha256_file

__all__ = ["FileOutcome", "IngestSummary", "ingest_paths", "read_submission", "sha256_file"]
