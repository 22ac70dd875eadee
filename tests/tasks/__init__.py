"""Tests of edgekit/tasks/ and the public task contracts (auto.py, threads)."""
