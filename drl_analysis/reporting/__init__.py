"""Published outputs: HTML pages, the annual report (PDF) and its
pseudonymised edition.
"""
