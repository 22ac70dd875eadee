"""Loads the shared fixtures as pytest plugins; helpers are imported from tests.support (no sys.path edits)."""

# live_fixtures: stream servers, video files, the PulseAudio virtual microphone; pi_fixtures: the emulated Pi.
pytest_plugins = ["tests.support.fixtures", "tests.support.live_fixtures", "tests.support.pi_fixtures"]
