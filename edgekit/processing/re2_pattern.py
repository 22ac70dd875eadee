"""The delimiter regex of a RegexTokenizer, read as RE2 reads it (MediaPipe Tasks' and TFLite Support's engine).

The standard metadata stores the delimiter as an RE2 pattern. Python's ``re`` reads most RE2 syntax
the same way, but not all of it: RE2's ``\\w \\d \\b`` are ASCII-only (Python's are Unicode unless
``re.ASCII``), RE2's ``\\s`` is ``[\\t\\n\\f\\r ]`` (Python's ASCII ``\\s`` adds ``\\v``), and RE2 has no
lookarounds or back-references while Python has no ``\\p{..}`` classes. This module translates the
common subset exactly and refuses the rest by name, so edgekit never splits text differently from
the runtime that reads only the standard metadata.
"""

from __future__ import annotations

import re

from ..errors import MetadataError

#: RE2's \s: exactly these five characters (not \v, not Unicode spaces).
RE2_SPACE = "\\t\\n\\f\\r "
_HINT = "use a plain delimiter such as [^\\w']+ (classes, \\w \\d \\s, alternation and repetition only)"
# Probes for empty matches: RE2::FindAndConsume never advances on an empty match, so MediaPipe would
# loop forever on such a pattern; edgekit refuses it instead.
_EMPTY_MATCH_PROBES = ("", "a", " ", "a b", "a, b!", "it's 42")


def _refuse(pattern: str, what: str) -> MetadataError:
    return MetadataError(
        f"delimiter pattern {pattern!r}: {what}; RE2 (MediaPipe) and Python read it differently", hint=_HINT
    )


def translate(pattern: str) -> str:
    """The Python ``re`` pattern (to compile with ``re.ASCII``) that matches exactly what RE2 matches.

    Raises:
        MetadataError: the pattern uses a construct whose meaning differs between RE2 and Python,
            or that RE2 does not support.
    """
    out: list[str] = []
    in_class = False
    class_start = 0  # index in `pattern` where the current class's members begin
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise _refuse(pattern, "it ends with a lone backslash")
            escaped = pattern[i + 1]
            if escaped == "s":
                out.append(RE2_SPACE if in_class else f"[{RE2_SPACE}]")
            elif escaped == "S" and not in_class:
                out.append(f"[^{RE2_SPACE}]")
            elif escaped == "S":
                raise _refuse(pattern, "\\S inside a character class")
            elif escaped in "pP":
                raise _refuse(pattern, f"Unicode class \\{escaped} (Python's re has none)")
            elif escaped in "bBAzZ":
                raise _refuse(pattern, f"zero-width assertion \\{escaped}")
            elif escaped.isdigit():
                raise _refuse(pattern, f"\\{escaped} (a back-reference or octal escape)")
            elif escaped in "QECx" and (escaped != "x" or pattern[i + 2 : i + 3] == "{"):
                raise _refuse(pattern, f"escape \\{escaped}")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]" and i > class_start:
                in_class = False
            elif char == "[":
                raise _refuse(pattern, "'[' inside a character class (write \\[)")
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            class_start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            out.append(pattern[i:class_start])
            i = class_start
            continue
        if char in "^$":
            raise _refuse(pattern, f"anchor {char!r}")
        if char == "(" and pattern[i + 1 : i + 2] == "?" and not pattern.startswith(("(?:", "(?P<"), i):
            raise _refuse(pattern, "a group flag or lookaround '(?...'")
        if char == "{" and pattern[i + 1 : i + 2] == ",":
            raise _refuse(pattern, "'{,n}' (a repetition in Python, literal text in RE2)")
        out.append(char)
        i += 1
    if in_class:
        raise _refuse(pattern, "an unterminated character class")
    return "".join(out)


def compile_delimiter(pattern: str) -> re.Pattern[str]:
    """Compile a RegexTokenizer delimiter so it splits text as MediaPipe's RE2 does.

    Raises:
        MetadataError: see :func:`translate`; also a pattern that does not compile, or that can
            match the empty string (RE2's FindAndConsume would never advance past it).
    """
    if not pattern:
        raise MetadataError("the delimiter pattern is empty", hint=_HINT)
    try:
        compiled = re.compile(translate(pattern), re.ASCII)
    except re.error as exc:
        raise MetadataError(f"delimiter pattern {pattern!r} does not compile: {exc}", hint=_HINT) from None
    for probe in _EMPTY_MATCH_PROBES:
        if any(match.end() == match.start() for match in compiled.finditer(probe)):
            raise MetadataError(
                f"delimiter pattern {pattern!r} can match the empty string (e.g. in {probe!r})",
                hint="use '+' rather than '*' so every match is at least one character",
            )
    return compiled
