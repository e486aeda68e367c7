"""Time spent in a code region, summed over many calls, as the device that runs it sees it.

On CUDA, kernels are queued asynchronously: a host clock around a region measures how long the
launches took, not the work. `RegionTimer` therefore records a pair of CUDA events on the current
stream around each call and reads their elapsed times only when asked (`seconds()`, one
synchronisation on the last event), so timing a region never adds a host-device synchronisation to
the loop it sits in. On CPU it is a plain host clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


class RegionTimer:
    """Sum of the wall-clock seconds of every `with timer.region():` block since the last `reset()`.

    On CUDA each block spans from the point the stream reaches the block's first kernel (or the
    host reaches the block, if the stream is idle) to the end of its last kernel: the time the
    block adds to a loop whose other work waits for it.
    """

    MAX_PENDING = 256  # unread event pairs before the finished ones are folded into the sum

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self._seconds = 0.0
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    @contextmanager
    def region(self) -> Iterator[None]:
        """Time the block: host wall-clock off CUDA, CUDA events on the current stream on CUDA (see the class)."""
        if self.device.type != "cuda":
            start = time.perf_counter()
            yield
            self._seconds += time.perf_counter() - start
            return
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        stream = torch.cuda.current_stream(self.device)
        start.record(stream)
        yield
        end.record(stream)
        self._events.append((start, end))
        if len(self._events) > self.MAX_PENDING:
            self._fold_finished()

    def _fold_finished(self) -> None:
        """Turn the event pairs whose kernels have finished into seconds, without waiting for any, so a timer
        that is read rarely (an evaluation's) does not pile up events."""
        done = 0
        while done < len(self._events) and self._events[done][1].query():
            start, end = self._events[done]
            self._seconds += start.elapsed_time(end) / 1000.0
            done += 1
        del self._events[:done]

    def seconds(self) -> float:
        """Seconds summed over the blocks so far (on CUDA: waits for the last block's kernels)."""
        if self._events:
            self._events[-1][1].synchronize()
        return self._seconds + sum(start.elapsed_time(end) for start, end in self._events) / 1000.0

    def reset(self) -> None:
        """Forget the seconds and pending events so far."""
        self._seconds = 0.0
        self._events.clear()
