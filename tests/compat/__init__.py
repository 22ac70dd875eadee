"""Tests of edgekit/compat/: the compatibility verdict against real third-party runtimes."""
