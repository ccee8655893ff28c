"""A progress line on stderr with the rate and the time left; redrawn in place on a terminal, else a line every
few seconds so logs stay readable."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int | None, *, already: int = 0, stream: TextIO | None = None,
                 enabled: bool = True) -> None:
        self.total = total
        self.done = already
        self.already = already
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= (0.25 if self.tty else 10.0):
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        rate = (self.done - self.already) / elapsed if elapsed > 0 else 0.0
        if self.total:
            left = max(0, self.total - self.done)
            eta = _clock(left / rate) if rate > 0 else "?"
            width = 30
            filled = int(width * min(1.0, self.done / self.total))
            bar = "#" * filled + "-" * (width - filled)
            return f"[{bar}] {self.done}/{self.total} rows {rate:.1f} ads/s ETA {eta}"
        return f"{self.done} rows {rate:.1f} ads/s"

    def _draw(self, now: float) -> None:
        text = self.line(now)
        self.stream.write(f"\r{text}\x1b[K" if self.tty else text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()
