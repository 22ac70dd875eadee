"""Argument types shared by the commands' parsers: each turns one command-line word into a checked value.

Used by :mod:`edgekit.cli.main` and :mod:`edgekit.cli.live`; a bad word becomes argparse's usage error
(exit status 2) with a message that names the expected form.
"""

from __future__ import annotations

import argparse


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def size_wxh(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        return width, height
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 224x224, got {text!r}") from None


def thread_counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2,4, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("thread counts must be positive")
    return values


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def region_xywh(text: str) -> tuple[float, float, float, float]:
    """``X,Y,W,H`` in pixels: a region of interest (width and height > 0)."""
    try:
        x, y, width, height = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected X,Y,WIDTH,HEIGHT in pixels, e.g. 10,20,100,80, got {text!r}"
        ) from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"the region's width and height must be > 0, got {text!r}")
    return x, y, width, height
