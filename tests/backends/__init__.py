"""Tests of edgekit/backends/ and edgekit/model.py: load(), the Model protocol, the model check."""
