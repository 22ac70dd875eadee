"""Which runtimes will load a model file, and why not: the compatibility verdict.

``check_compatibility(path)`` answers for ai-edge-litert (the installed version: the file is loaded
into it), tflite-runtime 2.14 (the file's operator codes against a table measured by loading into
tflite-runtime 2.14, ``tools/compat_table.py``), MediaPipe Tasks (the checks its tasks make, see
``_mediapipe.py``) and Core ML. A runtime that will not load the file gets the reasons and one line
naming the fix. The export report of ``edgekit convert`` and ``edgekit info`` print it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import EdgekitError, MetadataError, install_hint, raise_interruption
from ._graph import CUSTOM_CODE, FileFacts, OperatorCode, read_facts
from ._mediapipe import mediapipe_verdict

__all__ = ["Compatibility", "RuntimeVerdict", "check_compatibility", "format_compatibility", "operator_support"]

TFLITE_RUNTIME_TABLE = Path(__file__).with_name("tflite_runtime_2.14.json")
# What each recipe can fall back to when its kernels are newer than tflite-runtime 2.14 knows
# (measured on the digits exports and the zoo: int8 loads where dynamic does not; float where int8 LOG does not).
_OLDER_RUNTIME_RECIPE = {"dynamic": "int8", "int16x8": "int8", "int8": "float16"}


@dataclass(frozen=True)
class RuntimeVerdict:
    """One runtime's answer for one file.

    Attributes:
        runtime: a stable id: ai-edge-litert, tflite-runtime, mediapipe, coreml, coreml-reference.
        label: what to print, with the version (e.g. "tflite-runtime 2.14.0").
        loads: True, False, or None when it cannot be told here (e.g. the runtime is not installed).
        reasons: why it does not load (empty when it does).
        fix: one line naming the fix (empty when it loads).
        evidence: how the answer was found (loaded here, measured table, rules from MediaPipe's source).
        other_format: the runtime reads another file format (Core ML for a .tflite, and back).
    """

    runtime: str
    label: str
    loads: bool | None
    reasons: tuple[str, ...] = ()
    fix: str = ""
    evidence: str = ""
    other_format: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "label": self.label,
            "loads": self.loads,
            "reasons": list(self.reasons),
            "fix": self.fix,
            "evidence": self.evidence,
            "other_format": self.other_format,
        }


@dataclass(frozen=True)
class Compatibility:
    """The verdicts for one file, one per runtime."""

    path: str
    verdicts: tuple[RuntimeVerdict, ...]

    def __getitem__(self, runtime: str) -> RuntimeVerdict:
        for verdict in self.verdicts:
            if verdict.runtime == runtime:
                return verdict
        raise KeyError(runtime)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "runtimes": [v.to_dict() for v in self.verdicts]}


def format_compatibility(compat: Compatibility, indent: str = "  ", compact: bool = False) -> list[str]:
    """Lines for the CLI: one per runtime, then the fix of each that does not load.

    Args:
        compat: the verdicts.
        indent: put before every line.
        compact: the export report's form: one line of the runtimes that load it, then one line (and a
            fix) per runtime that does not; runtimes of another file format are left out.
    """
    if compact:
        shown = [v for v in compat.verdicts if not v.other_format]
        loads = ", ".join(v.label for v in shown if v.loads) or "none checked here"
        lines = [f"{indent}loads in: {loads}"]
        for verdict in shown:
            if verdict.loads is False:
                lines.append(f"{indent}not in {verdict.label}: {'; '.join(verdict.reasons)}")
                lines.append(f"{indent}  fix: {verdict.fix}") if verdict.fix else None
        return lines
    width = max(len(v.label) for v in compat.verdicts)
    lines = []
    for verdict in compat.verdicts:
        answer = {True: "loads", False: "does not load", None: "not checked here"}[verdict.loads]
        why = f" ({verdict.evidence})" if verdict.evidence else ""
        reasons = ": " + "; ".join(verdict.reasons) if verdict.loads is not True and verdict.reasons else ""
        lines.append(f"{indent}{verdict.label:<{width}}  {answer}{reasons}{why}")
        if verdict.loads is not True and verdict.fix:
            lines.append(f"{indent}{'':<{width}}  fix: {verdict.fix}")
    return lines


@lru_cache(maxsize=1)
def operator_support() -> dict[str, Any]:
    """The measured table of what tflite-runtime 2.14 resolves (``edgekit/compat/tflite_runtime_2.14.json``)."""
    return json.loads(TFLITE_RUNTIME_TABLE.read_text("utf-8"))


def _operator_names() -> dict[int, str]:
    from ..backends.litert_model import _builtin_names

    return _builtin_names()


def unsupported_operators(codes: tuple[OperatorCode, ...], table: dict[str, Any]) -> list[OperatorCode]:
    """The operator codes the table's runtime does not resolve."""
    versions, custom = table["builtin_versions"], table["custom_ops"]
    missing = []
    for code in codes:
        if code.builtin == CUSTOM_CODE:
            if not custom.get(code.custom, False):
                missing.append(code)
        elif code.version not in versions.get(str(code.builtin), ()):
            missing.append(code)
    return list(dict.fromkeys(missing))


def _tflite_runtime(facts: FileFacts, recipe: str) -> RuntimeVerdict:
    table = operator_support()
    label = f"tflite-runtime {table['version']}"
    missing = unsupported_operators(facts.operator_codes, table)
    evidence = "operator table measured by loading into it"
    if not missing:
        return RuntimeVerdict("tflite-runtime", label, True, evidence=evidence)
    names = _operator_names()
    listed = ", ".join(code.describe(names) for code in missing)
    reasons = (f"{listed}: newer than {label} knows",)
    short = label.rsplit(".", 1)[0] if label.count(".") == 2 else label  # "tflite-runtime 2.14"
    fallback = _OLDER_RUNTIME_RECIPE.get(recipe)
    what = recipe or "this file"
    fix = f"{what} needs ai-edge-litert" + (
        f"; for {short} use {fallback}" if fallback else " (pip install ai-edge-litert)"
    )
    if any(code.builtin == CUSTOM_CODE for code in missing):
        fix = "custom/Select-TF ops need an interpreter built with them; re-export with builtin ops only"
    return RuntimeVerdict("tflite-runtime", label, False, reasons, fix, evidence)


def _ai_edge_litert(path: Path) -> RuntimeVerdict:
    from importlib import metadata

    try:
        from ai_edge_litert.interpreter import Interpreter
    except Exception as exc:  # not installed (numpy<2 systems), or a broken install
        raise_interruption(exc)  # but a Ctrl-C/SIGTERM during the import stops the command
        return RuntimeVerdict(
            "ai-edge-litert",
            "ai-edge-litert",
            None,
            (f"not installed here ({type(exc).__name__})",),
            "pip install ai-edge-litert, then check again",
            "",
        )
    from ..backends._quiet import quiet_native_stderr

    label = f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    try:
        with quiet_native_stderr():
            Interpreter(model_path=str(path)).allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return RuntimeVerdict("ai-edge-litert", label, False, (first,), "re-export the file", "loaded here")
    return RuntimeVerdict("ai-edge-litert", label, True, evidence="loaded here")


def _mediapipe(path: Path, data: bytes, facts: FileFacts) -> RuntimeVerdict:
    from ..metadata import read_card

    try:
        card = read_card(data)
    except MetadataError as exc:
        return RuntimeVerdict(
            "mediapipe", "MediaPipe Tasks", False, (f"its metadata is malformed: {exc}",), "re-export the file"
        )
    task, reasons, fixes = mediapipe_verdict(card, facts)
    evidence = "checks from MediaPipe's source"
    label = f"MediaPipe Tasks ({task})" if task else "MediaPipe Tasks"
    if task is None:
        return RuntimeVerdict("mediapipe", label, None, tuple(reasons), fixes[0], evidence)
    if reasons:
        return RuntimeVerdict("mediapipe", label, False, tuple(reasons), "; ".join(dict.fromkeys(fixes)), evidence)
    return RuntimeVerdict("mediapipe", label, True, evidence=evidence)


def _tflite_verdicts(path: Path) -> tuple[RuntimeVerdict, ...]:
    from ..backends.litert_model import _check_file

    data = _check_file(path)
    facts = read_facts(data)
    try:
        from ..metadata import read_card

        card = read_card(data)
    except MetadataError:
        card = None
    recipe = str(card.extra.get("recipe", "")) if card is not None else ""
    coreml = RuntimeVerdict(
        "coreml",
        "Core ML",
        False,
        ("a .tflite file; Core ML reads .mlpackage",),
        "export one for iOS/macOS: edgekit convert SOURCE --to coreml",
        other_format=True,
    )
    return (_ai_edge_litert(path), _tflite_runtime(facts, recipe), _mediapipe(path, data, facts), coreml)


def _coreml_verdicts(path: Path) -> tuple[RuntimeVerdict, ...]:
    not_tflite = "export a .tflite for it: edgekit convert SOURCE --to tflite"
    others = tuple(
        RuntimeVerdict(runtime, label, False, ("a Core ML package, not a .tflite file",), not_tflite, other_format=True)
        for runtime, label in (
            ("ai-edge-litert", "ai-edge-litert"),
            ("tflite-runtime", f"tflite-runtime {operator_support()['version']}"),
            ("mediapipe", "MediaPipe Tasks"),
        )
    )
    if sys.platform == "darwin":
        try:
            from ..backends.coreml import load_coreml

            load_coreml(path, None)
            apple = RuntimeVerdict("coreml", "Core ML (macOS)", True, evidence="loaded here")
        except EdgekitError as exc:
            apple = RuntimeVerdict("coreml", "Core ML (macOS)", False, (str(exc),), exc.hint, "loaded here")
    else:
        apple = RuntimeVerdict(
            "coreml",
            "Core ML (macOS/iOS)",
            None,
            ("Apple's runtime runs on macOS and iOS only",),
            "check on a Mac with `edgekit info`; here the reference evaluator stands in",
        )
    from ..backends import plugin

    load_reference = plugin("coreml-reference")
    try:
        if load_reference is None:
            reference = RuntimeVerdict(
                "coreml-reference",
                "edgekit reference evaluator",
                None,
                ("the reference evaluator comes with the converters (converters.coreml.reference not imported)",),
                install_hint("convert") + ", then check with `edgekit info MODEL`",
            )
        else:
            model = load_reference(path)
            reference = RuntimeVerdict("coreml-reference", model.backend, True, evidence="loaded here")
    except EdgekitError as exc:
        reference = RuntimeVerdict(
            "coreml-reference", "edgekit reference evaluator", False, (str(exc),), exc.hint, "loaded here"
        )
    return (apple, reference) + others


def check_compatibility(path: str | Path) -> Compatibility:
    """Say which runtimes will load ``path`` (a .tflite file or a .mlpackage) and why not.

    Args:
        path: the model file.

    Returns:
        A :class:`Compatibility` with one :class:`RuntimeVerdict` per runtime.

    Raises:
        ModelNotFoundError: the file does not exist.
        InvalidModelError: it is not a TFLite model or Core ML package.
    """
    model_path = Path(path)
    if model_path.suffix.lower() == ".mlpackage" and model_path.is_dir():
        return Compatibility(str(model_path), _coreml_verdicts(model_path))
    return Compatibility(str(model_path), _tflite_verdicts(model_path))
