"""Property tests of the gradient projections in inril.interleave.surgery."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inril.interleave.surgery import METHODS, assign_flat_grad, flatten_grads, project, project_away

RELATIONS = ("random", "aligned", "opposed", "collinear_opposed", "orthogonal", "zero_il", "zero_rl", "zero_both", "sparse")
SCALES = (1e-30, 1e-12, 1e-3, 1.0, 1e3, 1e12, 1e30)


@st.composite
def grad_pairs(draw) -> tuple[torch.Tensor, torch.Tensor]:
    """Two flat float32 gradients of one length, each at its own scale, in a chosen relation."""
    n = draw(st.integers(1, 300))
    relation = draw(st.sampled_from(RELATIONS))
    scale_il, scale_rl = draw(st.sampled_from(SCALES)), draw(st.sampled_from(SCALES))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    a = torch.randn(n, generator=gen, dtype=torch.float64)
    b = torch.randn(n, generator=gen, dtype=torch.float64)
    if relation == "aligned":
        b = a + 0.5 * b
    elif relation == "opposed":
        b = -a + 0.5 * b
    elif relation == "collinear_opposed":
        b = -a
    elif relation == "orthogonal":
        b = b - (a @ b) / (a @ a) * a
    elif relation == "sparse":
        a = a * (torch.rand(n, generator=gen, dtype=torch.float64) < 0.3)
        b = b * (torch.rand(n, generator=gen, dtype=torch.float64) < 0.3)
    if relation in ("zero_il", "zero_both"):
        a = torch.zeros_like(a)
    if relation in ("zero_rl", "zero_both"):
        b = torch.zeros_like(b)
    return (a * scale_il).float(), (b * scale_rl).float()


def _cos64(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    na, nb = a.norm(), b.norm()
    return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))


def _dual_cone_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Projection of a + b onto {v: v.a >= 0, v.b >= 0} by enumerating active sets (float64)."""
    a, b = a.double(), b.double()
    g = a + b
    candidates = [g, torch.zeros_like(g)]  # the apex is always feasible
    for h in (a, b):
        if h.norm() > 0:
            candidates.append(g - (g @ h) / (h @ h) * h)
    basis = torch.stack([a, b], dim=1)
    candidates.append(g - basis @ torch.linalg.lstsq(basis, g).solution)
    feasible = [v for v in candidates if all(v @ h >= -1e-9 * v.norm() * h.norm() for h in (a, b))]
    return min(feasible, key=lambda v: float((v - g).norm()))


@settings(max_examples=300, deadline=None)
@given(grad_pairs())
def test_rho_is_the_cosine_and_never_nan(pair):
    a, b = pair
    for method in METHODS:
        result = project(a, b, method)
        assert result.rho.dim() == 0
        assert torch.isfinite(result.rho) and torch.isfinite(result.update).all()
        assert float(result.rho) == pytest.approx(_cos64(a, b), abs=1e-5)


@settings(max_examples=300, deadline=None)
@given(grad_pairs())
def test_none_is_the_plain_sum(pair):
    a, b = pair
    assert torch.equal(project(a, b, "none").update, a + b)


@settings(max_examples=300, deadline=None)
@given(grad_pairs())
def test_pcgrad_removes_exactly_the_conflicting_component(pair):
    a, b = pair
    result = project(a, b, "pcgrad")
    cos = _cos64(a, b)
    if cos >= 1e-6 or cos == 0.0:
        assert torch.equal(result.update, a + b)
        return
    if cos > -1e-6:
        return  # numerically orthogonal: the sign of the float32 inner product is not meaningful
    a_proj, b_proj = project_away(a, b), project_away(b, a)
    a64, b64 = a.double(), b.double()
    na, nb = a64.norm(), b64.norm()
    # Each projected gradient is orthogonal to the other original one ...
    assert abs(float(a_proj.double() @ b64)) <= 1e-5 * float(na * nb)
    assert abs(float(b_proj.double() @ a64)) <= 1e-5 * float(na * nb)
    # ... and differs from its original by exactly the component along the other one.
    a_ref = a64 - (a64 @ b64) / (b64 @ b64) * b64
    b_ref = b64 - (a64 @ b64) / (a64 @ a64) * a64
    assert torch.allclose(a_proj.double(), a_ref, rtol=0, atol=1e-5 * float(na))
    assert torch.allclose(b_proj.double(), b_ref, rtol=0, atol=1e-5 * float(nb))
    assert torch.allclose(result.update.double(), a_ref + b_ref, rtol=0, atol=1e-5 * float(na + nb))


@settings(max_examples=300, deadline=None)
@given(grad_pairs())
def test_dual_cone_helps_both_and_is_the_nearest_such_update(pair):
    a, b = pair
    v = project(a, b, "dual_cone").update.double()
    a64, b64 = a.double(), b.double()
    tol = 1e-5 * float(a64.norm() + b64.norm())
    assert float(v @ a64) >= -tol * float(a64.norm())
    assert float(v @ b64) >= -tol * float(b64.norm())
    if _cos64(a, b) >= 1e-6 or _cos64(a, b) == 0.0:
        assert torch.equal(project(a, b, "dual_cone").update, a + b)
    assert torch.allclose(v, _dual_cone_reference(a, b), rtol=0, atol=2 * tol)


def test_dual_cone_differs_from_pcgrad_on_a_mild_conflict():
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([-0.2, 1.0])  # conflicting, yet a + b = (0.8, 1) already helps both
    assert torch.equal(project(a, b, "dual_cone").update, a + b)
    pc = project(a, b, "pcgrad").update
    assert not torch.allclose(pc, a + b)


def test_fully_opposed_gradients_cancel_to_zero_update():
    a = torch.tensor([3.0, -4.0, 0.0])
    for method in ("pcgrad", "dual_cone"):
        result = project(a, -2 * a, method)
        assert float(result.rho) == pytest.approx(-1.0)
        assert torch.allclose(result.update, torch.zeros(3), atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(1, 5), min_size=0, max_size=3), min_size=1, max_size=6), st.data())
def test_flatten_and_assign_round_trip_over_parameter_shapes(shapes, data):
    params = [torch.nn.Parameter(torch.randn(tuple(shape))) for shape in shapes]
    missing = data.draw(st.lists(st.booleans(), min_size=len(params), max_size=len(params)))
    for p, skip in zip(params, missing):
        if not skip:
            p.grad = torch.randn_like(p)
    flat = flatten_grads(params)
    assert flat.shape == (sum(p.numel() for p in params),)
    expected = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    assert torch.equal(flat, expected)
    new = torch.randn_like(flat)
    saved = new.clone()
    assign_flat_grad(params, new)
    new.zero_()  # the parameters own their gradients, not views of the caller's tensor
    assert torch.equal(flatten_grads(params), saved)


def test_surgery_step_on_a_real_network():
    """End to end: two losses on one MLP, projected gradient written back, optimizer steps on it."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    x = torch.randn(16, 4)
    params = list(net.parameters())
    net(x).pow(2).mean().backward()
    g_il = flatten_grads(params)
    net.zero_grad()
    (-net(x).pow(2).mean() + net(x)[:, 0].mean()).backward()
    g_rl = flatten_grads(params)
    result = project(g_il, g_rl, "dual_cone")
    assign_flat_grad(params, result.update)
    before = torch.nn.utils.parameters_to_vector(params).clone()
    torch.optim.SGD(params, lr=0.1).step()
    step = torch.nn.utils.parameters_to_vector(params) - before
    assert torch.allclose(step, -0.1 * result.update, atol=1e-7)


def test_bad_inputs_raise_clear_errors():
    a = torch.ones(3)
    with pytest.raises(ValueError, match="none, pcgrad, dual_cone"):
        project(a, a, "mgda")
    with pytest.raises(ValueError, match="equal length"):
        project(a, torch.ones(4), "pcgrad")
    with pytest.raises(ValueError, match="equal length"):
        project(torch.ones(3, 1), torch.ones(3, 1), "pcgrad")
    with pytest.raises(ValueError, match="dtype"):
        project(a, a.double(), "pcgrad")
    with pytest.raises(ValueError, match="elements"):
        assign_flat_grad([torch.nn.Parameter(torch.zeros(2))], torch.zeros(3))
