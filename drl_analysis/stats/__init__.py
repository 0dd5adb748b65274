"""DRL statistics: facility medians, quartiles, bootstrap intervals and their figures.
"""
