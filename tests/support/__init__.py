"""Helpers and fixtures the tests (and benchmarks) share: real models, real media, real servers.

Import them as ``from tests.support.audio_fixtures import ...``; ``tests/conftest.py`` loads the pytest fixtures
of :mod:`tests.support.fixtures` as a plugin. Nothing here edits ``sys.path``.
"""
