"""Show a frame in edgekit's WindowView until it says the user closed it (run in the GUI OpenCV venv).

python show_window.py FRAME.npy TITLE       # prints "shown" once the frame is up, "closed" at the end
"""

import sys
import time

import numpy as np

from edgekit.views.window import WindowView

frame = np.load(sys.argv[1])
view = WindowView(sys.argv[2])
announced = False
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    if not view.show(frame):
        print("closed", flush=True)
        view.close()
        sys.exit(0)
    if not announced:
        print("shown", flush=True)
        announced = True
print("timeout", flush=True)
sys.exit(3)
