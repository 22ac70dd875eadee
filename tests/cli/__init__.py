"""Tests of edgekit/cli/: the edgekit command as a user runs it."""
