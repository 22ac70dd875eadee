"""Tests of edgekit/views/: overlay, insets, window, web view."""
