from __future__ import annotations

import numpy as np

from conftest import load_script

bench = load_script("bench/sample_efficiency")
STEPS = np.array([0, 100, 200, 300])


def test_ratio_is_the_share_of_steps_inril_needs_to_reach_rl_onlys_final_success():
    ratio, text = bench.compare(STEPS, np.array([0.3, 0.5, 0.6, 0.6]), np.array([0.3, 0.4, 0.45, 0.5]))
    assert ratio == 100 / 300 and "after 100 env steps" in text


def test_no_ratio_when_rl_only_did_not_gain_or_inril_never_gets_there():
    assert bench.compare(STEPS, np.array([0.3, 0.5, 0.5, 0.5]), np.array([0.3, 0.3, 0.2, 0.3]))[0] is None
    ratio, text = bench.compare(STEPS, np.array([0.3, 0.3, 0.3, 0.3]), np.array([0.3, 0.4, 0.5, 0.6]))
    assert ratio is None and "never reached" in text
