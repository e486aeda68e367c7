"""Reading demonstrations from robomimic-layout HDF5 files (inril.data.demos describes the layout we write).

What we read beyond that:
- `obs` as one flat (T, D) dataset (Isaac Lab's recorder default, `PreStepFlatPolicyObservationsRecorder`):
  one term named `policy`, the recording env's policy group;
- groups inside `obs` (Mimic's `obs/datagen_info/...` annotations): left out, they are not observations;
- `mask/<filter_key>`: `filter_key` selects those demos, `val_filter_key` holds those out for validation;
- quaternion terms (named `*quat*`, 4 wide): read as (w, x, y, z), our convention, converted from
  (x, y, z, w) where the file's convention is (x, y, z, w). The convention is decided, first rule that applies:
  1. our `quat_order` attribute ("wxyz" or "xyzw");
  2. `env_args.env_name` is a registered inril task (`inril.tasks.list_tasks()`, also the extension's gym ids):
     (w, x, y, z). Our tasks' observation terms are (w, x, y, z) on both backends, so a file Isaac Lab's own
     writer recorded from our extension's env is in our layout although that writer stamps format_version 1;
  3. Isaac Lab 3's root attribute `format_version`: >= 1 (x, y, z, w), 0 (Isaac Lab <= 2) (w, x, y, z);
  4. robosuite's files (`env_args.type` 1): (x, y, z, w);
  5. anything else: (w, x, y, z).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from inril.data.demos import QUAT_ORDERS, ROBOSUITE_ENV_TYPE, DemoError, DemoSet, Episode, demo_index, validate_episodes
from inril.data.groups import POLICY_GROUP
from inril.tasks import list_tasks


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise DemoError(f"demo file {path} does not exist")
    if not path.is_file():
        raise DemoError(f"demo path {path} is not a file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if "unable to lock file" in str(exc):  # HDF5 file locking: another process has it open for writing
            raise DemoError(f"demo file {path} is locked by another process (HDF5 file locking: a writer still "
                            f"has it open); wait for it to finish, or set HDF5_USE_FILE_LOCKING=FALSE if "
                            f"the file system does not support locks") from None
        raise DemoError(f"demo file {path} is not a readable HDF5 file ({exc})") from exc


def read_episodes(path: str | os.PathLike) -> tuple[list[Episode], dict, list[str]]:
    """Read every episode with its obs terms kept separate: (episodes, env_meta, obs_keys)."""
    path = Path(path)
    with _open(path) as f:
        data, env_meta, names, obs_keys = _contents(f, path)
        xyzw = _quat_order(f, data, env_meta, path) == "xyzw"
        episodes = []
        for name in names:
            demo = data[name]
            obs = {key: _read_obs(demo, key, path, name, xyzw) for key in obs_keys}
            rewards = np.asarray(demo["rewards"]) if "rewards" in demo else None
            seed = int(demo.attrs["seed"]) if "seed" in demo.attrs else None
            episodes.append(Episode(obs, _read(demo, "actions", path, name), _success(demo), seed, rewards))
    _validate_read(episodes, names, obs_keys, path)
    return episodes, env_meta, obs_keys


def load_demos(
    path: str | os.PathLike,
    obs_keys: Sequence[str] | None = None,
    only_success: bool = False,
    filter_key: str | None = None,
    val_filter_key: str | None = None,
) -> DemoSet:
    """Load demos for learning, concatenating `obs_keys` (default: the recorded order) per step.

    `filter_key` keeps the demos listed in `mask/<filter_key>` (robomimic's `hdf5_filter_key`);
    `val_filter_key` adds those of `mask/<val_filter_key>` as the held-out episodes (`DemoSet.held_out`,
    robomimic's `hdf5_validation_filter_key`). `only_success` leaves out episodes marked success=False.
    Raises DemoError (one line naming the file) for anything unusable."""
    path = Path(path)
    with _open(path) as f:
        data, env_meta, names, available = _contents(f, path)
        keys = list(obs_keys) if obs_keys is not None else available
        if not keys:
            raise DemoError(f"{path}: no observation keys selected")
        unknown = [k for k in keys if k not in available]
        if unknown:
            raise DemoError(f"{path}: unknown obs keys {unknown}; available: {available}")
        train = _masked(f, filter_key, names, path) if filter_key is not None else names
        val = _masked(f, val_filter_key, names, path) if val_filter_key is not None else []
        shared = sorted(set(train) & set(val), key=demo_index)
        if shared:
            raise DemoError(f"{path}: mask/{filter_key} and mask/{val_filter_key} share demos {shared[:5]}")
        names = sorted({*train, *val}, key=demo_index)
        if only_success:
            names = [n for n in names if _success(data[n])]
            if not [n for n in names if n not in val]:
                raise DemoError(f"{path}: no successful demos to train on (--keep-failures keeps the others)")
        xyzw = _quat_order(f, data, env_meta, path) == "xyzw"
        episodes = [Episode({k: _read_obs(data[n], k, path, n, xyzw) for k in keys}, _read(data[n], "actions", path, n),
                            _success(data[n])) for n in names]
    _validate_read(episodes, names, keys, path)
    held_out = [i for i, n in enumerate(names) if n in set(val)] if val_filter_key is not None else None
    if held_out == []:
        raise DemoError(f"{path}: mask/{val_filter_key} holds no demo to validate on")
    return DemoSet(
        path=path,
        obs=[np.concatenate([ep.obs[k] for k in keys], axis=1).astype(np.float32) for ep in episodes],
        actions=[ep.actions.astype(np.float32) for ep in episodes],
        success=[ep.success for ep in episodes],
        names=names,
        obs_keys=keys,
        obs_key_dims=[episodes[0].obs[k].shape[1] for k in keys],
        env_meta=env_meta,
        held_out=held_out,
    )


# The name of the one term a flat (T, D) `obs` dataset is read as: Isaac Lab's recorder writes the env's
# `policy` observation group there.
FLAT_OBS_TERM = POLICY_GROUP


def _success(demo: h5py.Group) -> bool:
    return bool(demo.attrs.get("success", True))


def _masked(f: h5py.File, key: str, names: list[str], path: Path) -> list[str]:
    """The demos `mask/<key>` lists (robomimic's filter keys), checked against the file's demos."""
    masks = f["mask"] if "mask" in f and isinstance(f["mask"], h5py.Group) else {}
    if key not in masks:
        raise DemoError(f"{path}: no filter key mask/{key} (the file has {sorted(masks) or 'no mask group'})")
    listed = [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(masks[key]).reshape(-1)]
    unknown = [n for n in listed if n not in names]
    if unknown:
        raise DemoError(f"{path}: mask/{key} lists demos the file does not hold: {unknown[:5]}")
    return sorted(set(listed), key=demo_index)


def _quat_order(f: h5py.File, data: h5py.Group, env_meta: dict, path: Path) -> str:
    """The quaternion convention of the file's observation terms (see the module docstring for the rule)."""
    if "quat_order" in data.attrs:
        order = data.attrs["quat_order"]
        order = order.decode() if isinstance(order, bytes) else str(order)
        if order not in QUAT_ORDERS:
            raise DemoError(f"{path}: data.attrs['quat_order'] is {order!r}, not one of {QUAT_ORDERS}")
        return order
    if env_meta.get("env_name") in list_tasks():  # recorded from one of our tasks: our terms, our layout
        return "wxyz"
    if "format_version" in f.attrs:
        return "xyzw" if int(f.attrs["format_version"]) >= 1 else "wxyz"
    return "xyzw" if env_meta.get("type") == ROBOSUITE_ENV_TYPE else "wxyz"


def _contents(f: h5py.File, path: Path) -> tuple[h5py.Group, dict, list[str], list[str]]:
    """What both readers start from: the `data` group, env_meta, the demo names in demo_<i> order and the recorded
    obs keys. Raises DemoError."""
    data = _data_group(f, path)
    env_meta = _env_meta(data, path)
    names = _demo_names(data, path)
    return data, env_meta, names, _recorded_obs_keys(data, data[names[0]], path)


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
    names = sorted((n for n in data if demo_index(n) >= 0), key=demo_index)
    if not names:
        raise DemoError(f"{path}: 'data' holds no demo_<i> groups")
    return names


def _recorded_obs_keys(data: h5py.Group, first_demo: h5py.Group, path: Path) -> list[str]:
    if "obs" not in first_demo:
        raise DemoError(f"{path}: {first_demo.name} has no 'obs' group")
    if isinstance(first_demo["obs"], h5py.Dataset):  # Isaac Lab's recorder: the policy group, flat
        return [FLAT_OBS_TERM]
    # Groups inside obs (Mimic's datagen_info annotations) are not observation terms.
    present = sorted(k for k, v in first_demo["obs"].items() if isinstance(v, h5py.Dataset))
    if not present:
        raise DemoError(f"{path}: {first_demo.name}/obs holds no observation datasets")
    if "obs_keys" not in data.attrs:
        return present
    recorded = json.loads(data.attrs["obs_keys"])
    if sorted(recorded) != present:
        raise DemoError(f"{path}: recorded obs_keys {recorded} do not match the stored terms {present}")
    return recorded


def _read_obs(demo: h5py.Group, key: str, path: Path, name: str, xyzw: bool) -> np.ndarray:
    """One observation term as (T, d), quaternion terms in (w, x, y, z) whatever the file's convention."""
    flat = key == FLAT_OBS_TERM and isinstance(demo.get("obs"), h5py.Dataset)
    array = _read(demo, "obs" if flat else f"obs/{key}", path, name)
    if xyzw and "quat" in key and array.shape[-1] == 4:
        array = array[..., [3, 0, 1, 2]]
    return array


def _read(demo: h5py.Group, key: str, path: Path, name: str) -> np.ndarray:
    if key not in demo or not isinstance(demo[key], h5py.Dataset):
        raise DemoError(f"{path}: {name} has no '{key}' dataset")
    array = np.asarray(demo[key])
    if array.ndim == 1:  # robomimic allows scalar-per-step terms stored as (T,)
        array = array[:, None]
    return array


def _validate_read(episodes: list[Episode], names: list[str], obs_keys: list[str], path: Path) -> None:
    try:
        validate_episodes(episodes, obs_keys)
    except DemoError as exc:
        # Name the demo group and the file rather than the position in our list.
        message = re.sub(r"episode (\d+)", lambda m: names[int(m.group(1))], str(exc))
        raise DemoError(f"{path}: {message}") from None
