"""Remarkable practice: dose outliers, facilities above the DRL, alerts and
clusters of exam codes and data sources.
"""
