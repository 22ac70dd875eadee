"""Tests of edgekit/deploy/: bundle and deploy to an emulated Raspberry Pi."""
