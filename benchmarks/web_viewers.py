"""Time to first frame for many simultaneous web viewers (issue 14: 100 of 100 within 2 s).

Starts a :class:`edgekit.views.web.WebView` in this process publishing a 640x480 frame at 30 fps, opens N
sockets at once (non-blocking connects from one thread, so the clients cost little), sends each a
``GET /stream.mjpg`` and measures, per viewer, the time from its connect to the end of its first JPEG.

    python -m benchmarks.web_viewers [--viewers 100] [--rounds 3] [--max-viewers 200]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import threading
import time

import numpy as np

BOUNDARY = b"--edgekit-frame"


def first_frame_times(
    port: int, viewers: int, timeout_s: float = 30.0, host: str = "127.0.0.1", path: str = "/stream.mjpg"
) -> tuple[list[float | None], list[int]]:
    """Open ``viewers`` connections at once; per viewer, seconds until its first whole JPEG (None: none came).

    Returns:
        (times, statuses): the HTTP status each viewer got (0: no answer).
    """
    selector = selectors.DefaultSelector()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    state = []
    for index in range(viewers):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        state.append({"sock": sock, "start": time.perf_counter(), "buffer": b"", "sent": False, "done": None})
        selector.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ, index)
    times: list[float | None] = [None] * viewers
    statuses = [0] * viewers
    deadline = time.perf_counter() + timeout_s
    open_count = viewers
    while open_count and time.perf_counter() < deadline:
        for key, events in selector.select(timeout=0.05):
            index = key.data
            item = state[index]
            sock = item["sock"]
            if events & selectors.EVENT_WRITE and not item["sent"]:
                try:
                    sock.sendall(request)
                except OSError:  # refused or reset: no frame for this one
                    selector.unregister(sock)
                    open_count -= 1
                    continue
                item["sent"] = True
                selector.modify(sock, selectors.EVENT_READ, index)
                continue
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            item["buffer"] += chunk
            buffer = item["buffer"]
            if not statuses[index] and b"\r\n" in buffer:
                parts = buffer.split(b" ", 2)
                statuses[index] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
            if _has_whole_jpeg(buffer):
                times[index] = time.perf_counter() - item["start"]
            if times[index] is not None or not chunk or (statuses[index] and statuses[index] != 200):
                selector.unregister(sock)
                open_count -= 1
    for item in state:
        item["sock"].close()
    selector.close()
    return times, statuses


def _has_whole_jpeg(buffer: bytes) -> bool:
    start = buffer.find(BOUNDARY)
    if start < 0:
        return False
    head_end = buffer.find(b"\r\n\r\n", start)
    if head_end < 0:
        return False
    for line in buffer[start:head_end].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(buffer) >= head_end + 4 + int(line.split(b":")[1])
    return False


def main() -> None:
    from edgekit.views.web import WebView

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-viewers", type=int, default=200)
    args = parser.parse_args()
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    frame[::2] = 90  # half noise: a JPEG of about 100 KB, heavier than a camera's
    with WebView(port=0, max_viewers=args.max_viewers) as view:
        stop = threading.Event()

        def publish() -> None:
            serial = 0
            while not stop.is_set():
                frame[:16, :16] = serial % 256
                view.publish(frame, {"type": "classification", "seq": serial})
                serial += 1
                time.sleep(1 / 30)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        print(f"{args.viewers} simultaneous viewers of /stream.mjpg (640x480 at 30 fps), {args.rounds} rounds")
        print("round  got frame  within 2 s   p50 ms   p90 ms   max ms  statuses")
        try:
            for round_number in range(1, args.rounds + 1):
                times, statuses = first_frame_times(view.port, args.viewers)
                got = sorted(t for t in times if t is not None)
                within = sum(t <= 2.0 for t in got)
                p50, p90, worst = (np.percentile(got, q) * 1e3 for q in (50, 90, 100)) if got else (np.nan,) * 3
                counts = {code: statuses.count(code) for code in sorted(set(statuses))}
                print(
                    f"{round_number:5d}  {len(got):4d}/{args.viewers:<4d}  {within:4d}/{args.viewers:<4d}  "
                    f"{p50:7.1f}  {p90:7.1f}  {worst:7.1f}  {counts}"
                )
                deadline = time.monotonic() + 10
                while view.stream_clients and time.monotonic() < deadline:  # the last round's viewers leave
                    time.sleep(0.05)
        finally:
            stop.set()
            publisher.join(2)


if __name__ == "__main__":
    main()
