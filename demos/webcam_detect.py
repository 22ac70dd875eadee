"""Runs ``python -m edgekit.demos.webcam_detect`` in a checkout (the code is in edgekit/demos/)."""

import sys

from edgekit.demos.webcam_detect import main

if __name__ == "__main__":
    sys.exit(main())
