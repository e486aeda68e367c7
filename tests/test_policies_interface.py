"""The shared policy interface: registry, configs (validation, dict and OmegaConf round trips),
raw-unit predict_action, and normalizers travelling in the state_dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pytest
import torch
from omegaconf import OmegaConf

from inril.policies import (
    POLICY_NAMES,
    DiffusionPolicyConfig,
    GaussianPolicyConfig,
    MinMaxNormalizer,
    Policy,
    make_policy,
    make_policy_config,
)

OBS_LOW, OBS_HIGH = torch.tensor([10.0, -1.0]), torch.tensor([20.0, 1.0])
ACT_LOW, ACT_HIGH = torch.tensor([-100.0, 0.0]), torch.tensor([300.0, 0.5])
TINY = {
    "diffusion": dict(
        down_dims=[8, 16], kernel_size=3, n_groups=4, diffusion_step_embed_dim=8, num_inference_steps=2
    ),
    "gaussian": dict(hidden_dims=[16]),
    "gaussian_chunked": dict(hidden_dims=[16], pred_horizon=4, action_horizon=2),
}


@dataclass
class EchoConfig:
    obs_dim: int = 2
    action_dim: int = 2
    obs_horizon: int = 1
    pred_horizon: int = 1
    action_horizon: int = 1


class EchoPolicy(Policy):
    """Returns the normalized observation as the normalized action: exposes predict_action's mapping."""

    def compute_loss(self, nobs, nactions):
        raise NotImplementedError

    def sample(self, nobs, *, generator=None, deterministic=False, init=None):
        return nobs


def normalizers(clip: float | None = 1.0) -> tuple[MinMaxNormalizer, MinMaxNormalizer]:
    return MinMaxNormalizer(OBS_LOW, OBS_HIGH, clip=clip), MinMaxNormalizer(ACT_LOW, ACT_HIGH)


@pytest.mark.parametrize("clip", [1.0, None])
def test_predict_action_maps_raw_obs_to_raw_actions_and_clamps_out_of_range_obs(clip):
    echo = EchoPolicy(EchoConfig(), *normalizers(clip))
    obs = torch.tensor([[[10.0, -1.0]], [[15.0, 0.0]], [[20.0, 1.0]], [[40.0, -3.0]]])
    actions = echo.predict_action(obs)
    assert torch.allclose(actions[:3, 0], torch.tensor([[-100.0, 0.0], [100.0, 0.25], [300.0, 0.5]]))
    if clip is None:  # 40 is 5 half-spans above the centre, -3 is 3 below
        assert torch.allclose(actions[3, 0], torch.tensor([1100.0, -0.5]))
    else:
        assert torch.allclose(actions[3, 0], torch.tensor([300.0, 0.0]))


def test_a_real_policy_returns_raw_units():
    cfg = make_policy_config("gaussian_chunked", 2, 2, **TINY["gaussian_chunked"])
    policy = make_policy("gaussian_chunked", cfg, *normalizers())
    with torch.no_grad():  # mean = 0.5 in normalized space for every state
        policy.mlp[-1].weight.zero_()
        policy.mlp[-1].bias.fill_(0.5)
    actions = policy.predict_action(torch.randn(3, 1, 2) * 50, deterministic=True)
    assert actions.shape == (3, 4, 2)
    assert torch.allclose(actions, torch.tensor([200.0, 0.375]).expand(3, 4, 2))


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_config_round_trips_and_normalizers_travel_in_the_state_dict(name):
    cfg = make_policy_config(name, 2, 2, **TINY[name])
    assert type(cfg)(**asdict(cfg)) == cfg
    assert make_policy_config(name, **asdict(cfg)) == cfg
    torch.manual_seed(0)
    policy = make_policy(name, cfg, *normalizers())
    assert {"obs_normalizer.low", "obs_normalizer.high", "action_normalizer.low"} <= set(policy.state_dict())

    # A checkpoint rebuilt with placeholder normalizers recovers the demo statistics on load.
    placeholder = MinMaxNormalizer(torch.zeros(2), torch.ones(2))
    restored = make_policy(name, make_policy_config(name, **asdict(cfg)), placeholder, MinMaxNormalizer.empty(2))
    restored.load_state_dict(policy.state_dict())
    obs = torch.randn(5, cfg.obs_horizon, 2) * 10 + 15

    def act(p: Policy) -> torch.Tensor:
        return p.predict_action(obs, generator=torch.Generator().manual_seed(0))

    assert torch.equal(act(restored), act(policy))


@pytest.mark.parametrize("cls", [DiffusionPolicyConfig, GaussianPolicyConfig])
def test_configs_are_omegaconf_structured_configs(cls):
    schema = OmegaConf.structured(cls)
    merged = OmegaConf.merge(schema, {"obs_dim": 5, "action_dim": 3, "obs_horizon": 2})
    cfg = OmegaConf.to_object(merged)
    assert cfg == cls(obs_dim=5, action_dim=3, obs_horizon=2)
    assert OmegaConf.to_object(OmegaConf.structured(cfg)) == cfg
    with pytest.raises(Exception, match="obs_dim"):
        OmegaConf.merge(schema, {"obs_dim": "five"})


def test_unknown_policy_names_list_the_known_ones():
    for call in (lambda: make_policy_config("mlp", 2, 2), lambda: make_policy("mlp", None, *normalizers())):
        with pytest.raises(ValueError, match="diffusion, gaussian, gaussian_chunked"):
            call()


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("diffusion", dict(pred_horizon=4, action_horizon=8), "action_horizon .8. cannot exceed pred_horizon .4."),
        ("diffusion", dict(obs_horizon=0), "obs_horizon must be an integer >= 1"),
        ("diffusion", dict(down_dims=[]), "down_dims must be a non-empty list"),
        ("diffusion", dict(down_dims=[12, 32], n_groups=8), "divisible by n_groups"),
        ("diffusion", dict(kernel_size=4), "kernel_size must be odd"),
        ("diffusion", dict(diffusion_step_embed_dim=7), "diffusion_step_embed_dim must be even"),
        ("diffusion", dict(num_inference_steps=101), r"num_inference_steps must be in \[1, num_train_timesteps=100\]"),
        ("diffusion", dict(warm_start_timestep=100), r"warm_start_timestep must be in \[0, 99\]"),
        ("diffusion", dict(eta=-0.1), "eta must be >= 0"),
        ("diffusion", dict(unet_dims=[8]), "unknown DiffusionPolicyConfig fields .'unet_dims'."),
        ("gaussian", dict(pred_horizon=4), "use 'gaussian_chunked' for chunks"),
        ("gaussian", dict(activation="swish"), "unknown activation 'swish'; known: relu"),
        ("gaussian", dict(hidden_dims=[64, 0]), "hidden_dims must be positive"),
        ("gaussian", dict(learn_std=False, state_dependent_std=True), "state_dependent_std=True needs learn_std=True"),
        ("gaussian", dict(init_log_std=-6.0), "init_log_std"),
        ("gaussian", dict(min_log_std=1.0, max_log_std=0.0), "min_log_std"),
    ],
)
def test_bad_configs_raise_clear_errors(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_policy_config(name, 2, 2, **overrides)


def test_make_policy_rejects_mismatched_configs_and_normalizers():
    with pytest.raises(ValueError, match="needs a DiffusionPolicyConfig"):
        make_policy("diffusion", make_policy_config("gaussian", 2, 2), *normalizers())
    with pytest.raises(ValueError, match="policy 'gaussian' has pred_horizon=1"):
        make_policy("gaussian", make_policy_config("gaussian_chunked", 2, 2), *normalizers())
    with pytest.raises(ValueError, match="obs normalizer has 2 dims but cfg.obs_dim is 3"):
        make_policy("gaussian", make_policy_config("gaussian", 3, 2), *normalizers())
    with pytest.raises(ValueError, match="action_dim must be an integer >= 1"):
        make_policy_config("gaussian", 2, 0)
