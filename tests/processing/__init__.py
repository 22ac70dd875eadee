"""Tests of edgekit/processing/: the pure-numpy pre- and post-processing."""
