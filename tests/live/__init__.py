"""Tests of edgekit/live/: the live runner on real sources."""
