"""What both separation modes do at the end of a training iteration: the periodic evaluation and the
IN-RIL diagnostics line.

Residual PPO runs inside rsl-rl-lib's OnPolicyRunner.learn loop, whose only per-iteration call after the
update is `logger.log`; InrilRunner's logger therefore hands the iteration end to `InrilRunner.end_iteration`,
which runs these pieces (and the divergence check). Full-network PPO owns its loop and calls them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class PeriodicEvaluation:
    """The deterministic policy's success every `interval` iterations (and after the first), kept as
    `history`: one dict per evaluation with the iteration, the env steps so far and the EvalResult's fields.

    `evaluate(trainer)` returns an inril.eval.EvalResult; interval 0 or evaluate None: never."""

    def __init__(self, evaluate: Callable[[Any], Any] | None, interval: int):
        self.evaluate, self.interval = evaluate, interval
        self.history: list[dict] = []

    def due(self, it: int) -> bool:
        """Whether iteration `it` (0-based) is evaluated: the first, then every `interval`-th."""
        return self.evaluate is not None and bool(self.interval) and ((it + 1) % self.interval == 0 or it == 0)

    def after_iteration(self, trainer: Any, it: int, env_steps: int) -> dict[str, float]:
        """Evaluate after iteration `it` (0-based) when due; returns its scalars as `eval/<field>` (empty if not
        due). `env_steps`: env steps of all envs up to the end of this iteration."""
        if not self.due(it):
            return {}
        result = self.evaluate(trainer).as_dict()
        self.history.append({"iteration": it, "env_steps": env_steps, **result})
        return {f"eval/{k}": v for k, v in result.items()}


def report_iteration(writer, scalars: dict[str, float], it: int) -> None:
    """Write `scalars` as `INRIL/<key>` to rsl-rl's log writer and print them on one line; the
    `time/` split goes to the writer only (rsl-rl's iteration block already prints the totals)."""
    for key, value in scalars.items():
        writer.add_scalar(f"INRIL/{key}", value, it)
    print("  ".join(f"{k}={v:.4g}" for k, v in scalars.items() if not k.startswith("time/")))
