"""rho(t) in full-network mode (shared parameters) and network-separation mode (action space)."""

import pytest
import torch

from inril.interleave.alignment import ActionDelta, action_space_alignment, full_network_alignment
from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler
from inril.interleave.surgery import cosine, project


def test_full_network_alignment_uses_only_shared_parameters():
    shared_il, shared_rl = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0])
    il = [shared_il, torch.tensor([[100.0, -3.0]]), None]
    rl = [shared_rl, None, torch.tensor([5.0])]
    # Parameters one loss does not reach must not dilute the cosine of the shared ones.
    assert float(full_network_alignment(il, rl)) == pytest.approx(1.0)
    both = [torch.randn(3, 2), torch.randn(4)], [torch.randn(3, 2), torch.randn(4)]
    flat = [torch.cat([g.reshape(-1) for g in grads]) for grads in both]
    assert float(full_network_alignment(*both)) == pytest.approx(float(project(*flat, "none").rho))
    with pytest.raises(ValueError, match="no common parameter"):
        full_network_alignment([None, torch.ones(1)], [torch.ones(1), None])


def test_action_space_alignment_is_the_flat_cosine_and_zero_safe():
    d_il, d_rl = torch.randn(8, 10), torch.randn(8, 10)
    assert action_space_alignment(d_il, d_rl) == pytest.approx(float(cosine(d_il.reshape(-1), d_rl.reshape(-1))))
    assert action_space_alignment(d_il, -3 * d_il) == pytest.approx(-1.0)
    assert action_space_alignment(torch.zeros(8, 10), d_rl) == 0.0
    with pytest.raises(ValueError, match="same states"):
        action_space_alignment(d_il, d_rl[:4])


def test_action_delta_measures_the_weight_change_only():
    torch.manual_seed(0)
    policy = torch.nn.Linear(3, 2)
    states = torch.randn(6, 3)

    def noisy_act(s: torch.Tensor) -> torch.Tensor:  # stands in for a stochastic diffusion sampler
        return policy(s) + torch.randn(s.shape[0], 2)

    step_w, step_b = 0.1 * torch.randn(2, 3), 0.1 * torch.randn(2)
    rng_before = torch.get_rng_state()
    with ActionDelta(noisy_act, states) as change:
        with pytest.raises(RuntimeError, match="after its with-block"):
            _ = change.delta
        torch.randn(5)  # the update itself draws random numbers, as a BC step samples noise
        rng_in_block = torch.get_rng_state()
        with torch.no_grad():
            policy.weight += step_w
            policy.bias += step_b
    assert torch.allclose(change.delta, states @ step_w.T + step_b, atol=1e-6)
    # The caller's RNG stream is untouched by the two evaluations.
    assert torch.equal(rng_in_block, _state_after_one_randn(rng_before))
    assert torch.equal(torch.get_rng_state(), rng_in_block)


def _state_after_one_randn(state: torch.Tensor) -> torch.Tensor:
    gen = torch.Generator()
    gen.set_state(state)
    torch.randn(5, generator=gen)
    return gen.get_state()


def _separated_policies(seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    base, residual = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    states, demo_actions = torch.randn(32, 4), 0.5 * torch.randn(32, 3)
    return base, residual, states, demo_actions


@pytest.mark.parametrize("rl_agrees, direction", [(True, -1), (False, +1)])
def test_network_separation_alignment_drives_adaptive_m(rl_agrees, direction):
    """BC moves the base towards demo actions; an RL step that pushes the residual the same (or the
    opposite) way on those states gives a clearly positive (or negative) rho, and the adaptive m follows."""
    base, residual, states, demo_actions = _separated_policies()
    scale = 0.1

    def executed(s: torch.Tensor) -> torch.Tensor:
        return (base(s) + scale * residual(s)).clamp(-1.0, 1.0)

    sched = InterleaveScheduler(InterleaveConfig(mode="adaptive", m=10, m_min=3, m_max=30, gain=2.0, ema=0.5))
    bc_opt = torch.optim.SGD(base.parameters(), lr=0.05)
    rl_opt = torch.optim.SGD(residual.parameters(), lr=0.5)
    for _ in range(8):
        # The RL objective rewards moving the executed action along +-(the BC direction) on these states.
        bc_direction = (demo_actions - base(states)).detach()
        advantage = bc_direction if rl_agrees else -bc_direction
        with ActionDelta(executed, states) as d_rl:
            rl_opt.zero_grad()
            (-(executed(states) * advantage).sum()).backward()
            rl_opt.step()
        with ActionDelta(executed, states) as d_il:
            bc_opt.zero_grad()
            (base(states) - demo_actions).pow(2).mean().backward()
            bc_opt.step()
        assert base.weight.grad is not None and residual.weight.grad is not None
        rho = action_space_alignment(d_il.delta, d_rl.delta)
        assert direction * rho < -0.5
        sched.observe_alignment(rho)
    assert direction * (sched.m - 10) > 0
    assert 3 <= sched.m <= 30
