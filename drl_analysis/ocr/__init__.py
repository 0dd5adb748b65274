"""Dose values read off screenshots of dose-report screens.
"""
