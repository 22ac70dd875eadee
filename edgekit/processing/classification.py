"""Scores → ranked, filtered categories (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..results import Category, Classifications


def label_of(index: int, labels: Sequence[str]) -> str:
    return labels[index] if 0 <= index < len(labels) else str(index)


def check_category_names(
    allowlist: Sequence[str], denylist: Sequence[str], labels: Sequence[str], model_name: str
) -> None:
    """Every allow/deny name must be one of the model's labels, so a typo does not silently filter all.

    Raises:
        InputError: a name is not a label of the model.
    """
    known = set(labels)
    for kind, names in (("category_allowlist", allowlist), ("category_denylist", denylist)):
        unknown = [name for name in names if name not in known]
        if unknown:
            shown = ", ".join(list(labels)[:20]) + (" …" if len(labels) > 20 else "")
            raise InputError(
                f"{kind} has names that are not labels of {model_name}: {unknown}",
                hint=f"the model's labels are: {shown}",
            )


def rank_categories(
    scores: np.ndarray,
    labels: Sequence[str],
    max_results: int = -1,
    score_threshold: float = 0.0,
    allowlist: Sequence[str] = (),
    denylist: Sequence[str] = (),
) -> tuple[Category, ...]:
    """Categories for one score vector, best first, after the allow/deny lists and the threshold.

    Args:
        scores: one score per class (any shape that flattens to the class count).
        labels: class names; indices without a label are named by their number.
        max_results: keep at most this many (-1: all).
        score_threshold: drop categories scoring below this.
        allowlist: when not empty, only these labels are kept.
        denylist: these labels are dropped.

    Returns:
        A tuple of Category, highest score first (ties keep the model's order).
    """
    flat = np.asarray(scores, np.float32).reshape(-1)
    if not np.isfinite(flat).all():
        raise InputError("the model produced NaN or Inf scores", hint="check the input for NaN or extreme values")
    order = np.argsort(-flat, kind="stable")
    allowed, denied = set(allowlist), set(denylist)
    out: list[Category] = []
    for index in order:
        score = float(flat[index])
        if score < score_threshold:
            break  # sorted: every later score is lower
        label = label_of(int(index), labels)
        if (allowed and label not in allowed) or label in denied:
            continue
        out.append(Category(int(index), score, label))
        if 0 < max_results <= len(out):
            break
    return tuple(out)


def classify_outputs(
    outputs: Sequence[np.ndarray],
    labels: Sequence[str],
    head_names: Sequence[str] = (),
    **filters,
) -> tuple[Classifications, ...]:
    """One Classifications per output head (the first head uses ``labels``; others are numbered)."""
    return tuple(
        Classifications(
            rank_categories(output, labels if head == 0 else (), **filters),
            head_index=head,
            head_name=head_names[head] if head < len(head_names) else "",
        )
        for head, output in enumerate(outputs)
    )
