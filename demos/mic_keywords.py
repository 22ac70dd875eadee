"""Runs ``python -m edgekit.demos.mic_keywords`` in a checkout (the code is in edgekit/demos/)."""

import sys

from edgekit.demos.mic_keywords import main

if __name__ == "__main__":
    sys.exit(main())
