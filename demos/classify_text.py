"""Runs ``python -m edgekit.demos.classify_text`` in a checkout (the code is in edgekit/demos/)."""

import sys

from edgekit.demos.classify_text import main

if __name__ == "__main__":
    sys.exit(main())
