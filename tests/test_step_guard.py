"""NonFiniteStepGuard: a non-finite step leaves weights and optimizer state bitwise unchanged, the
counters are right once resolved, and the BC optimizer's guard never reads a value on the host."""

from __future__ import annotations

import contextlib

import pytest
import torch

from inril.algos.bc import BCConfig
from inril.algos.common.step_guard import NonFiniteStepGuard
from inril.algos.network_separation.base_updater import BaseUpdater
from inril.data.windows import WindowSampler
from test_export_support import synthetic_demos, tiny_base

# Fused AdamW skips on the device (the BC optimizer); plain Adam on the host (PPO's optimizer).
OPTIMIZERS = {
    "fused AdamW": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1, fused=True),
    "Adam": lambda params: torch.optim.Adam(params, lr=1e-2),
}


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


def gradients(seed: int, bad: float | None = None) -> list[torch.Tensor]:
    """Gradients for model()'s four parameters; `bad` poisons one entry of the last one."""
    generator = torch.Generator().manual_seed(seed)
    grads = [torch.randn(shape, generator=generator) for shape in ((4, 3), (4,), (2, 4), (2,))]
    if bad is not None:
        grads[-1][1] = bad
    return grads


def step(optimizer: torch.optim.Optimizer, module: torch.nn.Module, grads: list[torch.Tensor]) -> None:
    for param, grad in zip(module.parameters(), grads, strict=True):
        param.grad = grad.clone()
    optimizer.step()


def snapshot(module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    state = [value for p in module.parameters() for value in optimizer.state[p].values()]
    return [t.detach().clone() for t in [*module.parameters(), *state]]


def assert_bitwise_equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8))


class HostRead(AssertionError):
    pass


@contextlib.contextmanager
def no_host_reads(monkeypatch: pytest.MonkeyPatch):
    """Every Python-level read of a tensor's value on the host raises (on CUDA each would be a sync)."""
    with monkeypatch.context() as patch:
        for name in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy", "cpu"):
            def read(self, *args, _name=name, **kwargs):
                raise HostRead(f"Tensor.{_name} called")
            patch.setattr(torch.Tensor, name, read)
        yield


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_step_leaves_weights_and_optimizer_state_bitwise_unchanged(make, bad):
    module = model()
    optimizer = make(module.parameters())
    guard = NonFiniteStepGuard(optimizer)
    step(optimizer, module, gradients(1))
    before = snapshot(module, optimizer)
    assert len(before) == 4 * 4  # weights, step, exp_avg, exp_avg_sq
    step(optimizer, module, gradients(2, bad))  # three of four gradients are finite: the whole step is skipped
    assert guard.last_skipped
    assert_bitwise_equal(snapshot(module, optimizer), before)


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
@pytest.mark.parametrize("bad_at", [0, 1])
def test_steps_after_a_skipped_one_match_an_optimizer_that_never_saw_it(make, bad_at):
    finite = [gradients(seed) for seed in (1, 2, 3)]
    guarded, fresh = model(), model()
    guarded_opt, fresh_opt = make(guarded.parameters()), make(fresh.parameters())
    guard = NonFiniteStepGuard(guarded_opt)
    for i, grads in enumerate(finite):
        if i == bad_at:
            step(guarded_opt, guarded, gradients(9, float("nan")))
            assert guard.last_skipped
        step(guarded_opt, guarded, grads)
        assert not guard.last_skipped
        step(fresh_opt, fresh, grads)
    assert_bitwise_equal(snapshot(guarded, guarded_opt), snapshot(fresh, fresh_opt))
    assert float(guarded_opt.state[next(guarded.parameters())]["step"]) == len(finite)


@pytest.mark.parametrize("make", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_counters_and_streaks_are_read_at_resolve(make):
    module = model()
    optimizer = make(module.parameters())
    guard = NonFiniteStepGuard(optimizer)
    expected = []  # (skipped, streak, worst_streak) after each step
    for seed, ok in enumerate([True, False, False, True, False]):
        step(optimizer, module, gradients(seed, None if ok else float("nan")))
        guard.resolve()
        expected.append((guard.skipped, guard.streak, guard.worst_streak))
    assert expected == [(0, 0, 0), (1, 1, 1), (2, 2, 2), (2, 0, 2), (3, 1, 2)]

    guard.reset_worst()  # an iteration boundary: the worst streak starts from the current one
    step(optimizer, module, gradients(7, float("nan")))
    assert (guard.skipped, guard.streak, guard.worst_streak) == (3, 1, 2)  # nothing read before resolve()
    guard.resolve()
    assert (guard.skipped, guard.streak, guard.worst_streak) == (4, 2, 2)
    guard.reset_worst()
    step(optimizer, module, gradients(8))
    guard.resolve()
    assert (guard.skipped, guard.streak, guard.worst_streak) == (4, 0, 2)
    guard.reset_worst()
    guard.resolve()
    assert guard.worst_streak == 0

    guard.restore(10)  # resumed from a checkpoint
    step(optimizer, module, gradients(9, float("inf")))
    guard.resolve()
    assert (guard.skipped, guard.streak) == (11, 1)


def test_the_fused_guard_never_reads_a_value_on_the_host_and_the_host_guard_does(monkeypatch):
    module = model()
    fused, plain = (make(module.parameters()) for make in OPTIMIZERS.values())
    fused_guard, plain_guard = NonFiniteStepGuard(fused), NonFiniteStepGuard(plain)
    assert fused_guard.skips_on_device and not plain_guard.skips_on_device
    with no_host_reads(monkeypatch):
        step(fused, module, gradients(1))
    before = snapshot(module, fused)
    with no_host_reads(monkeypatch):
        step(fused, module, gradients(2, float("nan")))
        with pytest.raises(HostRead):  # the same harness catches a guard that decides on the host
            step(plain, module, gradients(2, float("nan")))
    assert_bitwise_equal(snapshot(module, fused), before)
    fused_guard.resolve()
    assert (fused_guard.skipped, fused_guard.streak) == (1, 1)


def test_il_updates_skip_a_nan_step_without_reading_a_value_on_the_host(monkeypatch):
    """BaseUpdater.il_update end to end (in line on CPU, queued on the side stream on CUDA)."""
    base = tiny_base()
    demos = synthetic_demos()
    sampler = WindowSampler(demos, list(range(demos.num_episodes)), base.cfg.obs_horizon, base.cfg.pred_horizon)
    updater = BaseUpdater(base, sampler, BCConfig(batch_size=8, warmup_steps=0, lr_schedule="constant"))
    guard = NonFiniteStepGuard(updater.bc.optimizer)
    calls = []

    def poison_second_backward(grad):
        calls.append(1)
        return grad * float("nan") if len(calls) == 2 else grad

    next(updater.learner.parameters()).register_hook(poison_second_backward)
    weights = []
    with no_host_reads(monkeypatch):
        for _ in range(3):
            updater.il_update()
            weights.append([p.detach().clone() for p in updater.learner.parameters()])
    guard.resolve()
    assert len(calls) == 3 and (guard.skipped, guard.streak, guard.worst_streak) == (1, 0, 1)
    assert_bitwise_equal(weights[1], weights[0])  # the poisoned second update changed nothing
    assert not all(torch.equal(a, b) for a, b in zip(weights[2], weights[1], strict=True))
    assert all(torch.isfinite(p).all() for p in updater.learner.parameters())


def test_a_state_dict_from_a_non_fused_optimizer_falls_back_to_the_host_decision():
    """Resuming a checkpoint written before the BC optimizer was fused turns `fused` off again;
    the guard must then neither hand found_inf to a step that refuses it nor let a NaN through."""
    module = model()
    old = torch.optim.AdamW(module.parameters(), lr=1e-2)
    step(old, module, gradients(1))
    optimizer = OPTIMIZERS["fused AdamW"](module.parameters())
    guard = NonFiniteStepGuard(optimizer)
    step(optimizer, module, gradients(2))  # sets optimizer.found_inf
    optimizer.load_state_dict(old.state_dict())
    assert not guard.skips_on_device
    before = snapshot(module, optimizer)
    step(optimizer, module, gradients(3, float("nan")))
    assert guard.last_skipped
    assert_bitwise_equal(snapshot(module, optimizer), before)
    step(optimizer, module, gradients(4))
    assert not guard.last_skipped


def test_an_optimizer_over_two_devices_is_refused():
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, device="meta"))]
    with pytest.raises(ValueError, match="one device"):
        NonFiniteStepGuard(torch.optim.SGD(params, lr=0.1))
