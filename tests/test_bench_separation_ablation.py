"""The separation ablation bench end to end on a tiny config: every variant from one base, same env steps."""

from __future__ import annotations

import json

from conftest import load_script
from test_train_residual import TINY

bench = load_script("bench/separation_ablation")


def test_every_variant_trains_from_the_same_base_for_the_same_env_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["--seeds", "0", "--iterations", "2", "--eval_interval", "1", "--out", str(out),
            "--variants", "rl_only,pcgrad,network_separation", *TINY, "agent.interleave.m=2"]
    assert bench.main(argv) == 0
    curves = json.loads((out / "curves.json").read_text())["curves"]
    assert set(curves) == {"rl_only", "pcgrad", "network_separation"}
    steps = {variant: [s for s, _ in runs[0]] for variant, runs in curves.items()}
    assert steps["rl_only"] == steps["pcgrad"] == steps["network_separation"] == [0, 4 * 8, 2 * 4 * 8]
    starts = {runs[0][0][1] for runs in curves.values()}
    assert len(starts) == 1  # the same base, evaluated on the same env seeds
    assert (out / "success_vs_steps.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "ratio to RL-only" in printed or "final success 0.000" in printed


def test_a_diffusion_base_runs_dppo_in_the_full_network_variants(tmp_path, monkeypatch, capsys):
    """--base_policy diffusion: the full-network variants fine-tune the diffusion base with DPPO."""
    monkeypatch.setenv("INRIL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["--base_policy", "diffusion", "--seeds", "0", "--iterations", "1", "--eval_interval", "1", "--out",
            str(out), "--variants", "rl_only,pcgrad", *(o for o in TINY if not o.startswith("base.policy.hidden_dims")),
            "base.policy.mlp_dims=[32,32]", "agent.interleave.m=2"]
    assert bench.main(argv) == 0
    curves = json.loads((out / "curves.json").read_text())["curves"]
    assert [s for s, _ in curves["pcgrad"][0]] == [0, 4 * 8]
    assert "stage 2/3: pre-training the diffusion base" in capsys.readouterr().out
