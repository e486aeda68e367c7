"""The 1:m interleave schedule: exact counts, resume, adaptive m(t) and config validation."""

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler
from inril.interleave.surgery import project


def _checkpoint_round_trip(sched: InterleaveScheduler) -> InterleaveScheduler:
    """Save through torch.save/torch.load(weights_only=True) like a training checkpoint, load into a fresh one."""
    buf = io.BytesIO()
    torch.save({"interleave": sched.state_dict()}, buf)
    buf.seek(0)
    resumed = InterleaveScheduler(sched.cfg)
    resumed.load_state_dict(torch.load(buf, weights_only=True)["interleave"])
    return resumed


@settings(max_examples=150, deadline=None)
@given(
    m=st.integers(1, 20),
    iterations=st.lists(st.integers(0, 60), min_size=1, max_size=12),
    resume_at=st.integers(0, 12),
)
def test_fixed_m_issues_floor_n_over_m_across_iterations_and_resume(m, iterations, resume_at):
    sched = InterleaveScheduler(InterleaveConfig(mode="fixed", m=m, m_min=1, m_max=20))
    dues = []
    for i, steps_in_iteration in enumerate(iterations):
        if i == resume_at:
            sched = _checkpoint_round_trip(sched)
        dues += [sched.on_rl_step() for _ in range(steps_in_iteration)]
    n = sum(iterations)
    assert sum(dues) == sched.il_updates == n // m
    assert sched.rl_steps == n
    # One IL update right after every m-th RL update, never bunched.
    assert dues == [1 if (k + 1) % m == 0 else 0 for k in range(n)]


def _gradient_pair(relation: str, n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    g_il = torch.randn(n, generator=gen)
    noise = 0.3 * torch.randn(n, generator=gen)
    return g_il, (g_il if relation == "aligned" else -g_il) + noise


@pytest.mark.parametrize("relation, direction", [("aligned", -1), ("opposed", +1)])
def test_adaptive_m_moves_with_alignment_and_stays_in_bounds(relation, direction):
    cfg = InterleaveConfig(mode="adaptive", m=10, m_min=4, m_max=25, gain=2.0, ema=0.8)
    sched = InterleaveScheduler(cfg)
    history = []
    for seed in range(40):
        rho = float(project(*_gradient_pair(relation, seed=seed), "pcgrad").rho)
        assert rho * direction < -0.8  # the constructed pairs really are (anti-)aligned
        sched.observe_alignment(rho)
        history.append(sched.m)
        sched.on_rl_step()
    assert all(cfg.m_min <= m <= cfg.m_max for m in history)
    assert all(direction * (b - a) >= 0 for a, b in zip(history, history[1:]))  # monotone, no jitter
    assert history[-1] == (cfg.m_min if direction < 0 else cfg.m_max)


def test_adaptive_rate_follows_one_over_m():
    """With m(t) held at m_max by conflicting gradients, IL updates come every m_max RL updates."""
    cfg = InterleaveConfig(mode="adaptive", m=10, m_min=5, m_max=15, gain=3.0, ema=0.0)
    sched = InterleaveScheduler(cfg)
    sched.observe_alignment(-1.0)
    assert sched.m == 15
    assert sum(sched.on_rl_step() for _ in range(150)) == 10
    sched.observe_alignment(1.0)
    assert sched.m == 5
    assert sum(sched.on_rl_step() for _ in range(150)) == 30


@settings(max_examples=100, deadline=None)
@given(
    rhos=st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=80),
    m_min=st.integers(1, 6),
    span=st.integers(0, 30),
    gain=st.floats(0.1, 10.0),
    ema=st.floats(0.0, 0.99),
)
def test_adaptive_m_within_bounds_and_credit_exact_on_resume(rhos, m_min, span, gain, ema):
    m_max = m_min + span
    cfg = InterleaveConfig(mode="adaptive", m=(m_min + m_max) // 2, m_min=m_min, m_max=m_max, gain=gain, ema=ema)
    sched, twin = InterleaveScheduler(cfg), InterleaveScheduler(cfg)
    for k, rho in enumerate(rhos):
        for s in (sched, twin):
            s.observe_alignment(rho)
        assert cfg.m_min <= sched.m <= cfg.m_max
        assert sched.on_rl_step() == twin.on_rl_step()
        if k == len(rhos) // 2:
            twin = _checkpoint_round_trip(twin)
    assert twin.state_dict() == sched.state_dict()
    # The credit never reaches a whole IL update without issuing it.
    num, den = sched.state_dict()["credit"]
    assert 0 <= num < den


def test_fixed_mode_ignores_alignment_but_tracks_it():
    sched = InterleaveScheduler(InterleaveConfig(mode="fixed", m=7, m_min=1, m_max=10, ema=0.5))
    sched.observe_alignment(-1.0)
    assert sched.m == 7
    assert sched.rho_ema == pytest.approx(-0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"m": 0, "m_min": 1}, "m must be an integer >= 1"),
        ({"m": 2.5}, "m must be an integer"),
        ({"m": True}, "m must be an integer"),
        ({"m_min": 0}, "m_min must be an integer >= 1"),
        ({"m": 60}, "m_min <= m <= m_max"),
        ({"m": 3, "m_min": 4}, "m_min <= m <= m_max"),
        ({"mode": "cosine"}, "mode must be one of"),
        ({"gain": -1.0}, "gain must be a finite number >= 0"),
        ({"gain": float("nan")}, "gain must be a finite number"),
        ({"mode": "adaptive", "gain": 0.0}, "never adapts"),
        ({"ema": 1.0}, r"ema must be in \[0, 1\)"),
        ({"ema": -0.1}, r"ema must be in \[0, 1\)"),
    ],
)
def test_bad_configs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InterleaveConfig(**kwargs)


def test_bad_runtime_inputs_raise():
    sched = InterleaveScheduler(InterleaveConfig(m=10))
    with pytest.raises(ValueError, match="finite"):
        sched.observe_alignment(float("nan"))
    other = InterleaveScheduler(InterleaveConfig(m=5))
    with pytest.raises(ValueError, match="saved with config"):
        other.load_state_dict(sched.state_dict())
