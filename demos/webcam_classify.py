"""Runs ``python -m edgekit.demos.webcam_classify`` in a checkout (the code is in edgekit/demos/)."""

import sys

from edgekit.demos.webcam_classify import main

if __name__ == "__main__":
    sys.exit(main())
