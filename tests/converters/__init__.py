"""Tests of converters/: TFLite export, verification, normalization, reports, training."""
