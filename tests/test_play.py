"""play.py runs the trainer's evaluation: same checkpoint and seeds -> the same episodes and success rate."""

from __future__ import annotations

import torch

from conftest import load_script
from inril.backends.mujoco import MujocoVecEnv, make_env
from inril.eval import evaluate_policy
from inril.policies.checkpoint import save_policy
from test_export_support import LAYOUT, TASK, build_tiny_runner, perturb_residual, tiny_base

play = load_script("play")


def record_env_actions(monkeypatch) -> list[torch.Tensor]:
    """Every action any MuJoCo env receives, in order."""
    sent: list[torch.Tensor] = []
    original = MujocoVecEnv.step
    monkeypatch.setattr(MujocoVecEnv, "step",
                        lambda self, actions: sent.append(actions.clone()) or original(self, actions))
    return sent


def test_play_reproduces_the_trainers_evaluation(tmp_path, monkeypatch, capsys):
    runner, job = build_tiny_runner(tmp_path, "bc")
    job.env.eval_num_envs, job.agent.eval_episodes = 2, 2
    runner.learn(1)
    perturb_residual(runner)
    checkpoint = tmp_path / "model_0.pt"
    runner.save(str(checkpoint))
    sent = record_env_actions(monkeypatch)
    trainer = runner.evaluate_fn(runner)  # the trainer's periodic evaluation (build_runner's closure)
    trainer_actions, sent[:] = list(sent), []
    argv = ["--checkpoint", str(checkpoint), "--task", TASK, "--num_episodes", "2", "--num_envs", "2",
            "--seed", str(job.env.seed + 10_000)]
    assert play.main(argv) == 0
    assert f"success {trainer.success_rate:.1%}" in capsys.readouterr().out
    # not just the same rate: the very same episodes, action for action
    assert len(sent) == len(trainer_actions) > 0
    assert all(torch.equal(a, b) for a, b in zip(sent, trainer_actions))


def test_play_evaluates_a_bc_policy_checkpoint_like_evaluate_policy(tmp_path, capsys):
    base = tiny_base(seed=2)
    save_policy(tmp_path / "policy.pt", base, "diffusion", LAYOUT, {"env_name": TASK})
    assert play.main(["--checkpoint", str(tmp_path / "policy.pt"), "--task", TASK, "--num_episodes", "1",
                      "--num_envs", "1", "--seed", "5"]) == 0
    expected = evaluate_policy(base, make_env(TASK, 1, 5), 1, 1)
    assert expected.summary() in capsys.readouterr().out


def test_play_video_records_the_first_envs_without_changing_the_result(tmp_path, capsys):
    import imageio.v3 as iio

    base = tiny_base(seed=2)
    save_policy(tmp_path / "policy.pt", base, "diffusion", LAYOUT, {"env_name": TASK})
    argv = ["--checkpoint", str(tmp_path / "policy.pt"), "--task", TASK, "--num_episodes", "2", "--num_envs", "2",
            "--seed", "5"]
    assert play.main(argv) == 0
    plain = capsys.readouterr().out.splitlines()
    video = tmp_path / "videos" / "play.mp4"
    assert play.main([*argv, "--video", str(video), "--video_length", "12"]) == 0
    recorded = capsys.readouterr().out.splitlines()
    assert recorded == [*plain, f"video: {video}"]
    frames = list(iio.imiter(video))
    assert len(frames) == 12 and frames[0].shape[1] > frames[0].shape[0]  # two envs side by side
    assert frames[-1].std() > 5  # a rendered scene, not a blank frame
