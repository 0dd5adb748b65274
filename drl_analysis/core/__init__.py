"""Core definitions every stage shares: canonical columns and units, number
reading, the exam-code catalogue, paths and user errors.
"""
