"""Tests of edgekit/zoo/ and converters/zoo/: the bundled models and how they are built."""
