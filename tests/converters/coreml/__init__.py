"""Tests of converters/coreml/ (and edgekit/backends/coreml.py): Core ML export and the ML Program evaluator."""
