"""Reproducible runs: the notebooks executed in order by papermill into
versioned output folders, and their verification.
"""
