"""Fuzz targets and the shared generators of the reliability tests.

``strategies`` generates small catalogs, policies, unused sets and candidate
refinements; ``targets`` holds the fuzz targets (the parser, and refine plus check);
``run`` is the longer local mode (``python -m tests.fuzz.run --help``).
"""
