"""The batched MuJoCo VecEnv: contract shapes, determinism, resets, rewards, failure containment, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.backends.mujoco import MujocoEnvConfig, MujocoVecEnv, make_env
from inril.tasks import list_tasks
from inril.tasks.spec import EE_QUAT_REFERENCE
from inril.utils.rotations import quat_mul, quat_to_matrix, quat_to_rot6d

TASK = "PegInHole-Low"


def hold(env: MujocoVecEnv, gripper: float = -1.0) -> torch.Tensor:
    """Actions that keep every tool where it is."""
    terms = env.obs_terms()
    close = torch.full((env.num_envs, 1), gripper)
    return torch.cat((terms["ee_pos"], quat_to_rot6d(terms["ee_quat"]), close), dim=-1)


def place_peg(env: MujocoVecEnv, i: int, offset=(0.0, 0.0, 0.0), velocity=(0.0, 0.0, 0.0)) -> None:
    """Write env i's peg into the hole's seated pose (shifted by `offset` in the hole frame), at rest or moving."""
    lay, state = env.layout, env.physics_state
    peg, hole = lay.part_qpos[0], lay.part_qpos[1]
    hole_pos = torch.from_numpy(state[i, 1 + hole : 4 + hole])
    hole_quat = torch.from_numpy(state[i, 4 + hole : 8 + hole])
    seat = env.task.pairs[0].rel_poses[0]
    rel = torch.tensor(seat.pos, dtype=torch.float64) + torch.tensor(offset, dtype=torch.float64)
    state[i, 1 + peg : 4 + peg] = (hole_pos + quat_to_matrix(hole_quat) @ rel).numpy()
    state[i, 4 + peg : 8 + peg] = quat_mul(hole_quat, torch.tensor(seat.quat, dtype=torch.float64)).numpy()
    dof = 1 + lay.nq + lay.part_qvel[0]
    state[i, dof : dof + 6] = (*velocity, 0.0, 0.0, 0.0)


def test_contract_shapes_and_dtypes():
    env = make_env(TASK, 3, seed=0)
    assert isinstance(env, VecEnv)
    assert (env.num_envs, env.num_actions, env.max_episode_length) == (3, 10, 200)
    obs = env.get_observations()
    assert isinstance(obs, TensorDict) and obs.batch_size == torch.Size([3])
    assert obs["policy"].shape == (3, 35) and obs["critic"].shape == (3, 53)
    assert obs["policy"].dtype == obs["critic"].dtype == torch.float32
    terms = env.obs_terms()
    assert [(k, v.shape[1]) for k, v in terms.items() if k != "parts_vels"] == list(env.task.observation_layout)
    torch.testing.assert_close(torch.cat([terms[k] for k, _ in env.task.observation_layout], -1), obs["policy"])
    # the tool's quaternion in the gripper-down hemisphere, the parts' with w >= 0 (see spec.EE_QUAT_REFERENCE)
    assert torch.all(terms["ee_quat"] @ torch.tensor(EE_QUAT_REFERENCE, dtype=terms["ee_quat"].dtype) >= 0)
    torch.testing.assert_close(terms["ee_quat"].norm(dim=-1), torch.ones(3))

    obs, rewards, dones, extras = env.step(hold(env))
    assert rewards.shape == (3,) and rewards.dtype == torch.float32
    assert dones.shape == (3,) and dones.dtype == torch.long
    assert extras["time_outs"].shape == (3,) and extras["time_outs"].dtype == torch.bool
    assert all(k.startswith("/") for k in extras["log"])
    assert env.episode_length_buf.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(2, 10))


def test_same_seed_same_trajectory_other_seed_differs():
    def rollout(seed: int) -> list[torch.Tensor]:
        env = make_env(TASK, 2, seed=seed, num_threads=2)
        out = [env.get_observations()["critic"].clone()]
        for t in range(4):
            action = hold(env)
            action[:, :3] += 0.02 * torch.tensor([np.sin(t), np.cos(t), -0.5], dtype=torch.float32)
            out.append(env.step(action)[0]["critic"].clone())
        return out

    first, again, other = rollout(7), rollout(7), rollout(8)
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], other[0])


def test_time_outs_and_automatic_reset():
    env = make_env(TASK, 3, seed=1, episode_length=3)
    env.episode_length_buf[2] = 2  # as rsl-rl's init_at_random_ep_len does
    before = env.obs_terms()["parts_poses"].clone()
    for step in range(3):
        _, _, dones, extras = env.step(hold(env))
        expected = [step == 2, step == 2, step == 0]
        assert dones.bool().tolist() == expected
        assert extras["time_outs"].tolist() == expected
    assert env.episode_length_buf.tolist() == [0, 0, 2]
    assert torch.equal(extras["log"]["/success"], torch.zeros(2))  # one entry per finished episode
    after = env.obs_terms()["parts_poses"]
    assert not torch.allclose(after[:2], before[:2], atol=1e-3)  # fresh random start poses


def test_reward_fires_once_per_assembled_pair():
    env = make_env(TASK, 2, seed=2, terminate_on_success=False)
    place_peg(env, 0)
    rewards = []
    for _ in range(3):
        _, r, dones, _ = env.step(hold(env))
        rewards.append(r.tolist())
        assert not dones.any()
    assert rewards == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    # Out and back in again within the same episode: the pair was already counted.
    place_peg(env, 0, offset=(0.1, 0.1, 0.0))
    assert env.step(hold(env))[1].tolist() == [0.0, 0.0]
    place_peg(env, 0)
    assert env.step(hold(env))[1].tolist() == [0.0, 0.0]
    assert env.assembled.tolist() == [[True], [False]]


def test_success_terminates_the_episode():
    env = make_env(TASK, 2, seed=2)
    place_peg(env, 1)
    _, rewards, dones, extras = env.step(hold(env))
    assert rewards.tolist() == [0.0, 1.0] and dones.tolist() == [0, 1]
    assert extras["time_outs"].tolist() == [False, False]  # a terminal, not a truncation
    assert extras["log"]["/success"].tolist() == [1.0]
    assert env.episode_length_buf.tolist() == [1, 0] and env.assembled.tolist() == [[False], [False]]


def test_parts_away_from_the_target_are_not_assembled():
    env = make_env(TASK, 3, seed=4)
    place_peg(env, 0, offset=(0.0, 0.0, 0.0), velocity=(0.0, 0.0, 1.5))  # knocked up and out of the hole
    place_peg(env, 1, offset=(0.0, 0.0, 0.012))  # resting 12 mm too high
    env.physics_state[1, 1 + env.layout.nq :] = 0.0
    _, rewards, dones, _ = env.step(hold(env))
    peg_z = env.obs_terms()["parts_poses"][:, 2]
    assert peg_z[0] > 0.09  # really out of the hole
    assert rewards.tolist()[0] == 0.0 and not env.assembled[0]
    # env 1 falls the 12 mm into place during the step and counts only then
    assert rewards.tolist()[1] == 1.0 and dones.tolist()[1] == 1
    assert rewards.tolist()[2] == 0.0


@pytest.mark.parametrize("field", ["qpos", "qvel"])
def test_nan_state_is_contained_to_its_env(field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo appends its warning to MUJOCO_LOG.TXT in the working directory
    env, reference = make_env(TASK, 3, seed=5), make_env(TASK, 3, seed=5)
    for _ in range(2):
        env.step(hold(env))
        reference.step(hold(reference))
    where = env.layout.qpos_slice if field == "qpos" else env.layout.qvel_slice
    env.physics_state[1, where.start] = np.nan
    obs, _, dones, extras = env.step(hold(env))
    ref_obs, _, ref_dones, _ = reference.step(hold(reference))
    assert extras["log"]["/nan_resets"] == 1.0 and env.nan_reset_count == 1
    assert dones.tolist() == [0, 1, 0] and extras["time_outs"].tolist() == [False, True, False]
    assert torch.isfinite(obs["critic"]).all() and np.isfinite(env.physics_state).all()
    assert env.episode_length_buf.tolist() == [3, 0, 3]
    for i in (0, 2):  # the other envs go on exactly as without the fault
        assert torch.equal(obs["critic"][i], ref_obs["critic"][i])
    assert ref_dones.tolist() == [0, 0, 0]


def test_non_finite_actions_hold_the_arm():
    env = make_env(TASK, 2, seed=6)
    start = env.obs_terms()["ee_pos"].clone()
    action = hold(env)
    action[0, 4] = float("nan")
    action[1, 0] = float("inf")
    _, _, dones, extras = env.step(action)
    assert extras["log"]["/nan_resets"] == 0.0 and not dones.any()
    assert (env.obs_terms()["ee_pos"] - start).norm(dim=-1).max() < 2e-3


def test_a_part_falling_off_the_table_ends_the_episode():
    env = make_env(TASK, 2, seed=7)
    peg = env.layout.part_qpos[0]
    env.physics_state[0, 1 + peg : 4 + peg] = (1.2, 0.0, -0.3)  # beyond the table edge, below its top
    _, _, dones, extras = env.step(hold(env))
    assert dones.tolist() == [1, 0] and extras["time_outs"].tolist() == [False, False]
    assert extras["log"]["/parts_dropped"] == 1.0 and extras["log"]["/nan_resets"] == 0.0


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"task": "PegInHole-Ultra"}, "known tasks: " + ", ".join(list_tasks())),
        ({"num_envs": 0}, "num_envs"),
        ({"num_envs": 2.5}, "num_envs"),
        ({"num_envs": True}, "num_envs"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"seed": "3"}, "seed"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:99"}, "cuda"),
        ({"episode_length": 0}, "episode_length"),
        ({"num_threads": -1}, "num_threads"),
        ({"perturb_time": 1.0}, "perturb_time"),
    ],
)
def test_bad_configs_raise_clear_errors(overrides, match):
    kwargs = {"task": TASK, "num_envs": 2, "seed": 0, **overrides}
    with pytest.raises(ValueError, match=match):
        MujocoEnvConfig(**kwargs)


def test_make_env_rejects_unknown_options_and_bad_timesteps():
    from inril.backends.mujoco.scene import SimConfig

    with pytest.raises(ValueError, match="unknown env option"):
        make_env(TASK, 1, seed=0, substeps=3)
    with pytest.raises(ValueError, match="whole number"):
        make_env(TASK, 1, seed=0, sim=SimConfig(timestep=0.003))
    with pytest.raises(ValueError, match="timestep"):
        SimConfig(timestep=0.0)


def test_rsl_rl_ppo_trains_on_the_env():
    from rsl_rl.runners import OnPolicyRunner

    env = make_env(TASK, 4, seed=0, episode_length=5)
    cfg = {
        "num_steps_per_env": 6,
        "save_interval": 100,
        "obs_groups": {"actor": ["policy"], "critic": ["policy", "critic"]},
        "actor": {"class_name": "MLPModel", "hidden_dims": [16], "obs_normalization": True,
                  "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.01}},
        "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
        "algorithm": {"class_name": "PPO", "num_learning_epochs": 1, "num_mini_batches": 1},
        "multi_gpu": None,
    }
    runner = OnPolicyRunner(env, cfg, log_dir=None, device="cpu")
    before = [p.clone() for p in runner.alg.actor.parameters()]
    runner.learn(1, init_at_random_ep_len=True)
    assert any(not torch.equal(a, b) for a, b in zip(before, runner.alg.actor.parameters()))
    assert torch.isfinite(env.get_observations()["critic"]).all()
