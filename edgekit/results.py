"""Typed, frozen results returned by every task.

Every field is always set (no all-``Optional`` results): an empty tuple means "nothing found". Each
result has ``to_dict()`` giving a JSON-ready dict (the ``--json`` lines and the web view use it) with a
``"type"`` key: ``classification``, ``detection`` or ``audio``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass(frozen=True)
class Category:
    """One class with its score. ``index`` is the position in the model's output."""

    index: int
    score: float
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": int(self.index), "score": _round(self.score), "label": self.label}


@dataclass(frozen=True)
class Classifications:
    """The categories of one output head, best first."""

    categories: tuple[Category, ...]
    head_index: int = 0
    head_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "head_index": self.head_index,
            "head_name": self.head_name,
            "categories": [c.to_dict() for c in self.categories],
        }


@dataclass(frozen=True)
class ClassificationResult:
    """What ``ImageClassifier`` and ``TextClassifier`` return.

    ``timestamp_ms`` is the timestamp the input was given with (0 in IMAGE mode).
    """

    classifications: tuple[Classifications, ...]
    timestamp_ms: float = 0

    @property
    def categories(self) -> tuple[Category, ...]:
        """The first head's categories (most models have one head)."""
        return self.classifications[0].categories if self.classifications else ()

    @property
    def top(self) -> Category | None:
        """The best category of the first head, or None when every score was filtered out."""
        return self.categories[0] if self.categories else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "classification",
            "timestamp_ms": _round(self.timestamp_ms, 3),
            "classifications": [c.to_dict() for c in self.classifications],
        }


@dataclass(frozen=True)
class BoundingBox:
    """A box in pixels of the original image: top-left corner, width and height."""

    x: float
    y: float
    width: float
    height: float

    @property
    def corners(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)

    def iou(self, other: BoundingBox) -> float:
        """Intersection over union with ``other`` (0 when they do not overlap)."""
        ax0, ay0, ax1, ay1 = self.corners
        bx0, by0, bx1, by1 = other.corners
        inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(getattr(self, k), 3) for k in ("x", "y", "width", "height")}


@dataclass(frozen=True)
class Keypoint:
    """A point in pixels of the original image (e.g. an eye of a detected face)."""

    x: float
    y: float
    label: str = ""
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"x": _round(self.x, 3), "y": _round(self.y, 3), "label": self.label, "score": _round(self.score)}


@dataclass(frozen=True)
class Detection:
    """One detected object: its box, its categories (best first) and keypoints (may be empty)."""

    box: BoundingBox
    categories: tuple[Category, ...]
    keypoints: tuple[Keypoint, ...] = ()

    @property
    def top(self) -> Category:
        return self.categories[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": self.box.to_dict(),
            "categories": [c.to_dict() for c in self.categories],
            "keypoints": [k.to_dict() for k in self.keypoints],
        }


@dataclass(frozen=True)
class DetectionResult:
    """What ``ObjectDetector`` returns: detections, best score first."""

    detections: tuple[Detection, ...]
    timestamp_ms: float = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "detection",
            "timestamp_ms": _round(self.timestamp_ms, 3),
            "detections": [d.to_dict() for d in self.detections],
        }


@dataclass(frozen=True)
class KeywordDetection:
    """A keyword heard once: ``timestamp_ms`` is where the detecting window ends, in stream time."""

    label: str
    score: float
    timestamp_ms: float
    index: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": _round(self.score),
            "timestamp_ms": _round(self.timestamp_ms, 3),
            "index": int(self.index),
        }


@dataclass(frozen=True)
class AudioClassifierResult:
    """What ``AudioClassifier`` returns for a clip or a stream block.

    ``classifications`` holds one entry per window that ended inside the input (their ``timestamp_ms``
    is the window's end in stream time); ``keywords`` the keyword detections those windows produced.
    """

    classifications: tuple[ClassificationResult, ...]
    keywords: tuple[KeywordDetection, ...] = ()
    timestamp_ms: float = 0

    @property
    def top(self) -> Category | None:
        """The best category of the last window, if any."""
        return self.classifications[-1].top if self.classifications else None

    def to_dict(self) -> dict[str, Any]:
        last = self.classifications[-1].classifications if self.classifications else ()
        return {
            "type": "audio",
            "timestamp_ms": _round(self.timestamp_ms, 3),
            "classifications": [c.to_dict() for c in last],
            "windows": len(self.classifications),
            "keywords": [k.to_dict() for k in self.keywords],
        }
