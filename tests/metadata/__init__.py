"""Tests of edgekit/metadata/: model cards in TFLite Metadata."""
