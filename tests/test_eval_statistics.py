"""The statistics printed with every evaluation: Wilson interval and the paired comparison with the base."""

from __future__ import annotations

import math

import pytest

from inril.eval import EvalResult, PairedComparison, compare


def result(outcomes: str) -> EvalResult:
    return EvalResult(outcomes=tuple(c == "1" for c in outcomes), mean_return=0.0, mean_length=1.0)


def test_compare_counts_the_episodes_that_changed_each_way():
    paired = compare(result("110010"), result("011011"))
    assert (paired.gained, paired.lost) == (2, 1)  # episodes 2 and 5 gained, episode 0 lost


def test_mcnemar_p_value_is_the_two_sided_binomial_tail_of_the_changes():
    assert PairedComparison(gained=10, lost=0).p_value == pytest.approx(2 / 2**10)
    assert PairedComparison(gained=0, lost=10).p_value == pytest.approx(2 / 2**10)
    # 2 * P(X <= 3), X ~ Binomial(12, 1/2)
    tail = sum(math.comb(12, k) for k in range(4)) / 2**12
    assert PairedComparison(gained=9, lost=3).p_value == pytest.approx(2 * tail)
    assert PairedComparison(gained=4, lost=4).p_value == 1.0
    assert PairedComparison(gained=0, lost=0).p_value == 1.0


def test_evaluations_of_different_episode_counts_cannot_be_paired():
    with pytest.raises(ValueError, match="cannot pair evaluations of 3 and 4 episodes"):
        compare(result("101"), result("1010"))


def test_wilson_interval_contains_the_rate_and_stays_inside_zero_one():
    for outcomes in ("0000", "1111", "1010101"):
        r = result(outcomes)
        low, high = r.confidence_interval()
        assert 0.0 <= low <= r.success_rate <= high <= 1.0
    low, high = result("1" * 50 + "0" * 50).confidence_interval()
    assert (low, high) == pytest.approx((0.404, 0.596), abs=1e-3)


def test_an_evaluation_whose_last_episode_ends_on_its_last_allowed_step_finishes():
    import torch

    from inril.eval import evaluate
    from reach_env import ReachEnv

    env = ReachEnv(2, length=5)
    zero = lambda obs: torch.zeros(2, 2)
    assert evaluate(env, zero, 2, success_return=1.0, max_steps=5).episodes == 2
    with pytest.raises(RuntimeError, match="did not finish 4 episodes within 9 steps"):
        evaluate(ReachEnv(2, length=5), zero, 4, success_return=1.0, max_steps=9)
