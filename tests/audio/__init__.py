"""Tests of edgekit/audio/: the audio classifier."""
