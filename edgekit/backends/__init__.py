"""Backends know tensors, not tasks: one module per runtime."""
