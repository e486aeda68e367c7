"""The per-iteration IN-RIL diagnostics line shared by residual PPO and full-network PPO."""

from __future__ import annotations


def report_iteration(writer, scalars: dict[str, float], it: int) -> None:
    """Write `scalars` as `INRIL/<key>` to rsl-rl's log writer and print them on one line; the
    `time/` split goes to the writer only (rsl-rl's iteration block already prints the totals)."""
    for key, value in scalars.items():
        writer.add_scalar(f"INRIL/{key}", value, it)
    print("  ".join(f"{k}={v:.4g}" for k, v in scalars.items() if not k.startswith("time/")))
