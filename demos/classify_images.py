"""Runs ``python -m edgekit.demos.classify_images`` in a checkout (the code is in edgekit/demos/)."""

import sys

from edgekit.demos.classify_images import main

if __name__ == "__main__":
    sys.exit(main())
