"""Which packages the build holds (everything else is in pyproject.toml).

The wheel (``pip install .``, ``python -m build``, ``pip install git+URL``) is the runtime only: the ``edgekit``
package with its bundled models, cards and demos. The converters (TensorFlow/Core ML export and the zoo's training
code) stay in the repository: an editable install (``pip install -e .``, what ``./dev.sh`` does) adds them, so
``edgekit convert`` works in a checkout and no generic top-level name like ``converters`` lands in site-packages.
"""

import sys

from setuptools import find_packages, setup

EDITABLE = "editable_wheel" in sys.argv  # setuptools' PEP 660 hook runs the editable_wheel command
include = ["edgekit", "edgekit.*"] + (["converters", "converters.*"] if EDITABLE else [])

setup(packages=find_packages(include=include))
