"""Demonstrations in the robomimic HDF5 layout (the one Isaac Lab's recorder and Mimic also write).

Layout as we write it (robomimic 0.3.0's, read by its `SequenceDataset` with its defaults)::

    /                          attrs: format_version (0: Isaac Lab's code for w, x, y, z quaternions)
    data/                      attrs: env_args (JSON: env_name, type, env_kwargs), total, obs_keys (JSON list),
                                      quat_order ("wxyz")
      demo_<i>/                attrs: num_samples, success, [seed]
        actions                (T, action_dim)
        obs/<key>              (T, d_key)
        next_obs/<key>         (T, d_key)  row t = obs row t + 1; the last row repeats the last observation
                                           (the observation after the final action is not recorded)
        rewards, dones         (T,)
    mask/train, mask/valid     demo names (bytes), a 90/10 split by episode as robomimic's split_train_val
                               makes, for `hdf5_filter_key` / `hdf5_validation_filter_key`

`env_args.type` is robomimic's EnvType: 1 robosuite, 2 gym, 3 iGibson; we write 2, as Isaac Lab does.
`obs_keys` is our addition: the order in which observation terms are concatenated into the policy input.
Files without it (plain robomimic or Mimic files) fall back to the sorted key order; wherever a policy
meets a task, layouts are compared by name (inril.data.layout), so the order cannot go silently wrong.

Reading (robomimic, Isaac Lab and Mimic files too): inril.data.demo_reader.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from inril.data.layout import LayoutError, column_index

# robomimic's EnvType (robomimic/envs/env_base.py): ROBOSUITE_TYPE = 1, GYM_TYPE = 2, IG_MOMART_TYPE = 3. Our envs
# are gym-style VecEnvs, and Isaac Lab's dataset writer uses 2 too.
ROBOMIMIC_ENV_TYPE = 2
ROBOSUITE_ENV_TYPE = 1
# Isaac Lab's dataset format_version (isaaclab.utils.datasets): 0 or absent = (w, x, y, z) quaternions,
# 1 = (x, y, z, w).
ISAACLAB_WXYZ_FORMAT_VERSION = 0
QUAT_ORDERS = ("wxyz", "xyzw")
# The share of demos our mask/valid holds (robomimic's split_train_val default val_ratio).
MASK_VALID_FRACTION = 0.1


class DemoError(ValueError):
    """A demonstration file or its contents cannot be used; the message says which file and why."""


@dataclass
class Episode:
    """One demonstration: row t of every obs term is the observation action t was taken from."""

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    success: bool
    seed: int | None = None
    rewards: np.ndarray | None = None

    @property
    def num_samples(self) -> int:
        """Number of (observation, action) rows T."""
        return len(self.actions)


@dataclass
class DemoSet:
    """Demonstrations loaded for learning: per-episode arrays with observation terms concatenated."""

    path: Path
    obs: list[np.ndarray]
    actions: list[np.ndarray]
    success: list[bool]
    names: list[str]
    obs_keys: list[str]
    obs_key_dims: list[int]
    env_meta: dict = field(default_factory=dict)
    held_out: list[int] | None = None  # episodes a validation filter key holds out; None: split by fraction

    @property
    def num_episodes(self) -> int:
        """Number of episodes."""
        return len(self.actions)

    @property
    def num_samples(self) -> int:
        """Total (observation, action) rows over all episodes."""
        return sum(len(a) for a in self.actions)

    @property
    def obs_dim(self) -> int:
        """Width O of the concatenated observation."""
        return self.obs[0].shape[1]

    @property
    def action_dim(self) -> int:
        """Width A of an action."""
        return self.actions[0].shape[1]

    @property
    def episode_lengths(self) -> list[int]:
        """Rows per episode, in episode order."""
        return [len(a) for a in self.actions]

    @property
    def obs_layout(self) -> list[tuple[str, int]]:
        """(term, size) in the order the terms are concatenated into `obs`."""
        return list(zip(self.obs_keys, self.obs_key_dims))

    def in_layout(self, layout: Sequence[tuple[str, int]], reader: str) -> DemoSet:
        """These demos with their observation terms reordered (and selected) by name into `layout`, the layout
        `reader` reads. Raises DemoError naming both layouts when a term is missing or differs in size."""
        try:
            index = column_index(self.obs_layout, layout, f"demo file {self.path}", reader)
        except LayoutError as exc:
            raise DemoError(str(exc)) from None
        if index is None:
            return self
        return replace(self, obs=[o[:, index] for o in self.obs], obs_keys=[n for n, _ in layout],
                       obs_key_dims=[d for _, d in layout])


def split_episodes(num_episodes: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split episode indices into train and validation sets (at least one train episode).

    With val_fraction > 0 and at least two episodes, validation gets at least one episode.
    """
    if num_episodes < 1:
        raise ValueError("need at least one episode to split")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(num_episodes)
    num_val = int(round(val_fraction * num_episodes))
    if val_fraction > 0 and num_episodes >= 2:
        num_val = max(num_val, 1)
    num_val = min(num_val, num_episodes - 1)
    return sorted(order[num_val:].tolist()), sorted(order[:num_val].tolist())


def demo_index(name: str) -> int:
    """N of a robomimic group name "demo_N" (a sort key: demo_2 before demo_10); -1 for any other name."""
    match = re.fullmatch(r"demo_(\d+)", name)
    return int(match.group(1)) if match else -1


def _check_array(where: str, array: np.ndarray, ndim: int) -> None:
    if array.ndim != ndim:
        raise DemoError(f"{where}: expected {ndim}-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DemoError(f"{where}: expected real numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise DemoError(f"{where}: contains NaN or inf (first at index {tuple(int(i) for i in bad)})")


def validate_episodes(episodes: Sequence[Episode], obs_keys: Sequence[str]) -> None:
    """Check episodes before writing them: at least one, none empty, finite real 2-D arrays, the same action
    width and observation terms (`obs_keys`) with the same widths in all, one row per action. Raises DemoError."""
    if not episodes:
        raise DemoError("no episodes to write")
    action_dim = None
    obs_dims: dict[str, int] = {}
    for i, ep in enumerate(episodes):
        where = f"episode {i}"
        actions = np.asarray(ep.actions)
        _check_array(f"{where} actions", actions, 2)
        if len(actions) == 0:
            raise DemoError(f"{where} is empty (0 samples)")
        if action_dim is None:
            action_dim = actions.shape[1]
        elif actions.shape[1] != action_dim:
            raise DemoError(f"{where}: action dim {actions.shape[1]} differs from episode 0's {action_dim}")
        if set(ep.obs) != set(obs_keys):
            raise DemoError(f"{where}: obs keys {sorted(ep.obs)} differ from {sorted(obs_keys)}")
        for key in obs_keys:
            term = np.asarray(ep.obs[key])
            _check_array(f"{where} obs/{key}", term, 2)
            if len(term) != len(actions):
                raise DemoError(f"{where} obs/{key}: {len(term)} rows but {len(actions)} actions")
            if obs_dims.setdefault(key, term.shape[1]) != term.shape[1]:
                raise DemoError(f"{where} obs/{key}: dim {term.shape[1]} differs from episode 0's {obs_dims[key]}")
        if ep.rewards is not None:
            rewards = np.asarray(ep.rewards)
            _check_array(f"{where} rewards", rewards, 1)
            if len(rewards) != len(actions):
                raise DemoError(f"{where}: {len(rewards)} rewards but {len(actions)} actions")


def write_demos(
    path: str | os.PathLike,
    episodes: Sequence[Episode],
    env_meta: dict,
    obs_keys: Sequence[str] | None = None,
) -> None:
    """Write episodes atomically: the file appears complete or not at all.

    `env_meta` follows robomimic's env_args (`env_name`, `type`, `env_kwargs`); `obs_keys` is the
    concatenation order recorded for readers (default: the first episode's dict order).
    """
    path = Path(path)
    if not episodes:
        raise DemoError("no episodes to write")
    obs_keys = list(obs_keys if obs_keys is not None else episodes[0].obs)
    if not obs_keys:
        raise DemoError("episodes have no observation terms")
    validate_episodes(episodes, obs_keys)
    env_args = {"type": ROBOMIMIC_ENV_TYPE, "env_kwargs": {}, **env_meta}
    if "env_name" not in env_args:
        raise DemoError("env_meta needs an 'env_name'")
    if not path.parent.is_dir():
        raise DemoError(f"output directory {path.parent} does not exist")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp_name, "w") as f:
            f.attrs["format_version"] = ISAACLAB_WXYZ_FORMAT_VERSION
            data = f.create_group("data")
            data.attrs["env_args"] = json.dumps(env_args)
            data.attrs["total"] = sum(ep.num_samples for ep in episodes)
            data.attrs["obs_keys"] = json.dumps(obs_keys)
            data.attrs["quat_order"] = "wxyz"
            for i, ep in enumerate(episodes):
                demo = data.create_group(f"demo_{i}")
                demo.attrs["num_samples"] = ep.num_samples
                demo.attrs["success"] = bool(ep.success)
                if ep.seed is not None:
                    demo.attrs["seed"] = int(ep.seed)
                demo.create_dataset("actions", data=np.asarray(ep.actions, dtype=np.float32))
                for key in obs_keys:
                    term = np.asarray(ep.obs[key], dtype=np.float32)
                    demo.create_dataset(f"obs/{key}", data=term)
                    demo.create_dataset(f"next_obs/{key}", data=np.concatenate([term[1:], term[-1:]]))
                rewards = np.zeros(ep.num_samples) if ep.rewards is None else np.asarray(ep.rewards)
                dones = np.zeros(ep.num_samples, dtype=np.int64)
                dones[-1] = 1
                demo.create_dataset("rewards", data=rewards.astype(np.float32))
                demo.create_dataset("dones", data=dones)
            train, valid = split_episodes(len(episodes), MASK_VALID_FRACTION, seed=0)
            for key, indices in (("train", train), ("valid", valid)):
                f.create_dataset(f"mask/{key}", data=np.array([f"demo_{i}".encode() for i in indices], dtype="S"))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
