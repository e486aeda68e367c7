"""Demonstrations in the robomimic HDF5 layout (the one Isaac Lab Mimic also writes).

Layout::

    data/                      attrs: env_args (JSON: env_name, type, env_kwargs), total, obs_keys (JSON list)
      demo_<i>/                attrs: num_samples, success, [seed]
        actions                (T, action_dim)
        obs/<key>              (T, d_key)
        rewards, dones         (T,)   [written by us; optional when reading]

`obs_keys` is our addition: the order in which observation terms are concatenated into the policy
input. Files without it (plain robomimic or Mimic files) fall back to the sorted key order, so any
robomimic-layout file loads.
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

# robomimic's env type for "robosuite-like" envs; Isaac Lab Mimic writes 2 as well.
ROBOMIMIC_ENV_TYPE = 2


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

    @property
    def num_episodes(self) -> int:
        return len(self.actions)

    @property
    def num_samples(self) -> int:
        return sum(len(a) for a in self.actions)

    @property
    def obs_dim(self) -> int:
        return self.obs[0].shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions[0].shape[1]

    @property
    def episode_lengths(self) -> list[int]:
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


def _demo_index(name: str) -> int:
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


def _validate_episodes(episodes: Sequence[Episode], obs_keys: Sequence[str]) -> None:
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
    _validate_episodes(episodes, obs_keys)
    env_args = {"type": ROBOMIMIC_ENV_TYPE, "env_kwargs": {}, **env_meta}
    if "env_name" not in env_args:
        raise DemoError("env_meta needs an 'env_name'")
    if not path.parent.is_dir():
        raise DemoError(f"output directory {path.parent} does not exist")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp_name, "w") as f:
            data = f.create_group("data")
            data.attrs["env_args"] = json.dumps(env_args)
            data.attrs["total"] = sum(ep.num_samples for ep in episodes)
            data.attrs["obs_keys"] = json.dumps(obs_keys)
            for i, ep in enumerate(episodes):
                demo = data.create_group(f"demo_{i}")
                demo.attrs["num_samples"] = ep.num_samples
                demo.attrs["success"] = bool(ep.success)
                if ep.seed is not None:
                    demo.attrs["seed"] = int(ep.seed)
                demo.create_dataset("actions", data=np.asarray(ep.actions, dtype=np.float32))
                for key in obs_keys:
                    demo.create_dataset(f"obs/{key}", data=np.asarray(ep.obs[key], dtype=np.float32))
                rewards = np.zeros(ep.num_samples) if ep.rewards is None else np.asarray(ep.rewards)
                dones = np.zeros(ep.num_samples, dtype=np.int64)
                dones[-1] = 1
                demo.create_dataset("rewards", data=rewards.astype(np.float32))
                demo.create_dataset("dones", data=dones)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise DemoError(f"demo file {path} does not exist")
    if not path.is_file():
        raise DemoError(f"demo path {path} is not a file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DemoError(f"demo file {path} is not a readable HDF5 file ({exc})") from exc


def read_episodes(path: str | os.PathLike) -> tuple[list[Episode], dict, list[str]]:
    """Read every episode with its obs terms kept separate: (episodes, env_meta, obs_keys)."""
    path = Path(path)
    with _open(path) as f:
        data = _data_group(f, path)
        env_meta = _env_meta(data, path)
        names = _demo_names(data, path)
        obs_keys = _recorded_obs_keys(data, f[f"data/{names[0]}"], path)
        episodes = []
        for name in names:
            demo = data[name]
            obs = {key: _read(demo, f"obs/{key}", path, name) for key in obs_keys}
            rewards = np.asarray(demo["rewards"]) if "rewards" in demo else None
            seed = int(demo.attrs["seed"]) if "seed" in demo.attrs else None
            episodes.append(
                Episode(obs, _read(demo, "actions", path, name), bool(demo.attrs.get("success", True)), seed, rewards)
            )
    _validate_read(episodes, names, obs_keys, path)
    return episodes, env_meta, obs_keys


def load_demos(
    path: str | os.PathLike, obs_keys: Sequence[str] | None = None, only_success: bool = False
) -> DemoSet:
    """Load demos for learning, concatenating `obs_keys` (default: the recorded order) per step."""
    path = Path(path)
    with _open(path) as f:
        data = _data_group(f, path)
        env_meta = _env_meta(data, path)
        names = _demo_names(data, path)
        available = _recorded_obs_keys(data, data[names[0]], path)
        keys = list(obs_keys) if obs_keys is not None else available
        if not keys:
            raise DemoError(f"{path}: no observation keys selected")
        unknown = [k for k in keys if k not in available]
        if unknown:
            raise DemoError(f"{path}: unknown obs keys {unknown}; available: {available}")
        if only_success:
            names = [n for n in names if bool(data[n].attrs.get("success", True))]
            if not names:
                raise DemoError(f"{path}: no successful demos")
        episodes = [
            Episode({k: _read(data[n], f"obs/{k}", path, n) for k in keys}, _read(data[n], "actions", path, n),
                    bool(data[n].attrs.get("success", True)))
            for n in names
        ]
    _validate_read(episodes, names, keys, path)
    return DemoSet(
        path=path,
        obs=[np.concatenate([ep.obs[k] for k in keys], axis=1).astype(np.float32) for ep in episodes],
        actions=[ep.actions.astype(np.float32) for ep in episodes],
        success=[ep.success for ep in episodes],
        names=names,
        obs_keys=keys,
        obs_key_dims=[episodes[0].obs[k].shape[1] for k in keys],
        env_meta=env_meta,
    )


def _data_group(f: h5py.File, path: Path) -> h5py.Group:
    if "data" not in f or not isinstance(f["data"], h5py.Group):
        raise DemoError(f"{path}: no 'data' group (not a robomimic-layout demo file)")
    return f["data"]


def _env_meta(data: h5py.Group, path: Path) -> dict:
    raw = data.attrs.get("env_args")
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        raise DemoError(f"{path}: data.attrs['env_args'] is not valid JSON ({exc})") from exc


def _demo_names(data: h5py.Group, path: Path) -> list[str]:
    names = sorted((n for n in data if _demo_index(n) >= 0), key=_demo_index)
    if not names:
        raise DemoError(f"{path}: 'data' holds no demo_<i> groups")
    return names


def _recorded_obs_keys(data: h5py.Group, first_demo: h5py.Group, path: Path) -> list[str]:
    if "obs" not in first_demo:
        raise DemoError(f"{path}: {first_demo.name} has no 'obs' group")
    present = sorted(first_demo["obs"].keys())
    if "obs_keys" not in data.attrs:
        return present
    recorded = json.loads(data.attrs["obs_keys"])
    if sorted(recorded) != present:
        raise DemoError(f"{path}: recorded obs_keys {recorded} do not match the stored terms {present}")
    return recorded


def _read(demo: h5py.Group, key: str, path: Path, name: str) -> np.ndarray:
    if key not in demo:
        raise DemoError(f"{path}: {name} has no '{key}'")
    array = np.asarray(demo[key])
    if array.ndim == 1:  # robomimic allows scalar-per-step terms stored as (T,)
        array = array[:, None]
    return array


def _validate_read(episodes: list[Episode], names: list[str], obs_keys: list[str], path: Path) -> None:
    try:
        _validate_episodes(episodes, obs_keys)
    except DemoError as exc:
        # Name the demo group and the file rather than the position in our list.
        message = re.sub(r"episode (\d+)", lambda m: names[int(m.group(1))], str(exc))
        raise DemoError(f"{path}: {message}") from None
