"""RegionTimer sums the time of its regions (host clock on CPU) until reset."""

from __future__ import annotations

import time

from inril.utils.timing import RegionTimer


def test_region_timer_sums_only_its_regions_and_resets():
    timer = RegionTimer("cpu")
    for _ in range(2):
        with timer.region():
            time.sleep(0.02)
        time.sleep(0.05)  # outside any region: not counted
    assert 0.04 <= timer.seconds() < 0.09
    timer.reset()
    assert timer.seconds() == 0.0
