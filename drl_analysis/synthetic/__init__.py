"""Seeded synthetic data for tests, the bundled sample and benchmarks:
damaged survey submissions and dose-report screens, with their truth.
"""
