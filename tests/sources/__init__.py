"""Tests of edgekit/sources/: cameras, streams, files, microphones."""
