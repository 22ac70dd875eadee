"""Runs ``python -m edgekit.demos.mic_sounds`` in a checkout (the code is in edgekit/demos/)."""

import sys

from edgekit.demos.mic_sounds import main

if __name__ == "__main__":
    sys.exit(main())
