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


def test_ratio_counts_the_steps_rl_only_itself_needed_to_first_reach_its_final_success():
    ratio, text = bench.compare(STEPS, np.array([0.3, 0.3, 0.5, 0.5]), np.array([0.3, 0.5, 0.4, 0.5]))
    assert ratio == 200 / 100 and "RL-only after 100" in text


def test_bootstrap_interval_over_seeds():
    inril = np.array([[0.3, 0.5, 0.6, 0.6], [0.3, 0.4, 0.5, 0.6], [0.3, 0.6, 0.6, 0.6]])
    rl_only = np.array([[0.3, 0.4, 0.45, 0.5], [0.3, 0.4, 0.5, 0.5], [0.3, 0.35, 0.4, 0.5]])
    out = bench.bootstrap_ratio(STEPS, inril, rl_only, resamples=500)
    # Every resample's IN-RIL mean reaches 0.5 by step 100 or 200, RL-only's only at 200 or 300.
    assert 1 / 3 <= out["ci_low"] <= out["ci_high"] <= 1 and out["share_not_reached"] == 0
    assert out == bench.bootstrap_ratio(STEPS, inril, rl_only, resamples=500)  # seeded
    never = bench.bootstrap_ratio(STEPS, np.full((3, 4), 0.3), rl_only, resamples=200)
    assert never["share_not_reached"] == 1 and never["ci_low"] == never["ci_high"] == np.inf
    flat = bench.bootstrap_ratio(STEPS, inril, np.full((3, 4), 0.3), resamples=200)
    assert flat["share_no_gain"] == 1 and flat["ci_low"] is None
