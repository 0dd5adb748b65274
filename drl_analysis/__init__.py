"""drl-analysis: survey repair, diagnostic reference levels, dose-report OCR and reports.

The package computes; the notebooks in ``notebooks/`` narrate.
"""

__version__ = "0.1.0"
