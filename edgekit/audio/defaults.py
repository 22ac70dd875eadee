"""The one place for keyword-spotting defaults: hop, smoothing, threshold and refractory period.

The Python API (:class:`edgekit.audio.AudioClassifierOptions`), the CLI (``edgekit run MODEL --source
mic`` and ``edgekit run MODEL FILE.wav``) and the demos all take these, so a snippet from the README
behaves like the command line. Measured on the bundled ``keywords`` model (benchmarks/keywords_real.py):
a 400 ms hop keeps the streaming real-time factor near 0.04 at one thread for its 2 s window, and a
keyword stays wholly inside two or three consecutive windows, so averaging two windows keeps words
while a window that cuts a word (scored as another word) does not fire on its own.
"""

from __future__ import annotations

#: Time between windows of a window model whose card gives no hop (a card's ``hop_samples`` wins).
KEYWORD_HOP_MS = 400.0
#: Average each label's score over this many windows (keyword models; other models: 1).
KEYWORD_SMOOTHING_WINDOWS = 2
#: Detection threshold when the card names none (a card's ``keyword_threshold`` wins).
KEYWORD_THRESHOLD = 0.5
#: After a detection, no other is reported for this long (one utterance, one detection).
KEYWORD_REFRACTORY_MS = 1000.0


def default_smoothing(window_ms: float, hop_ms: float) -> int:
    """Windows to average for a keyword model: :data:`KEYWORD_SMOOTHING_WINDOWS`, at most the windows
    that fit in half a window (a model run with a long hop is not smoothed past the word)."""
    return max(1, min(KEYWORD_SMOOTHING_WINDOWS, round(window_ms / 2 / hop_ms)))
