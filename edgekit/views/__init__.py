"""Ways to look at live results: an overlay drawn on frames, a desktop window, and a web page.

Nothing here imports OpenCV until it draws or shows something, so ``import edgekit.views`` is cheap.
"""

from .overlay import color_for_index, draw_overlay
from .web import PortInUseError, WebView
from .window import NoDisplayError, WindowView

__all__ = ["NoDisplayError", "PortInUseError", "WebView", "WindowView", "color_for_index", "draw_overlay"]
