"""Tests of edgekit/vision/: the image tasks."""
