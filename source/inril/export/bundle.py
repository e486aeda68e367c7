"""The export directory: everything a robot needs, nothing that imports inril.

    policy.pt            TorchScript DeployedPolicy: reset(env_ids), forward(obs) -> action, env units
    denoiser_step.onnx   one DDIM step of the base (see inril.export.onnx for the loop)
    residual.onnx        the residual actor's mean (absent for a BC policy)
    metadata.json        task, observation and action layout, horizons, DDIM tables, normalizers,
                         residual scale, the ONNX loop, source checkpoint and versions

The directory appears complete or not at all: files are written to a staging directory next to
it and renamed into place.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch

from inril.data.groups import POLICY_GROUP
from inril.data.layout import LayoutError, column_index
from inril.export.ddim import export_tables
from inril.export.deployable import Deployable, load_deployable
from inril.export.onnx import ONNX_LOOP, export_denoiser_step, export_residual
from inril.export.torchscript import FrozenNormalizer, script_policy
from inril.policies.checkpoint import CheckpointError, first_sentence, nonfinite_tensors, require
from inril.policies.diffusion import DiffusionPolicy, fixed_noise
from inril.tasks.registry import get_task, list_tasks

EXPORT_FORMAT = "inril.export.v2"  # v2: trailing DDIM grid, fixed initial noise, prediction_type
TORCHSCRIPT_FILE = "policy.pt"
DENOISER_FILE = "denoiser_step.onnx"
RESIDUAL_FILE = "residual.onnx"
METADATA_FILE = "metadata.json"
# The action of every registered task: absolute end-effector pose in the robot base frame (docs/design.md).
TASK_ACTION_LAYOUT = (("position", 3), ("rotation_6d", 6), ("gripper", 1))
_VERSIONED = ("inril", "torch", "diffusers", "rsl-rl-lib", "onnx")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _normalizer(normalizer) -> dict:
    frozen = FrozenNormalizer(normalizer)
    clip = frozen.clip.item()
    return {"low": normalizer.low.tolist(), "high": normalizer.high.tolist(), "center": frozen.center.tolist(),
            "half_span": frozen.half_span.tolist(), "clip": clip if clip != float("inf") else None}


def _layout(pairs) -> list[dict] | None:
    return None if pairs is None else [{"name": name, "dim": dim} for name, dim in pairs]


def build_metadata(deployable: Deployable, num_inference_steps: int, files: dict[str, str | None]) -> dict:
    """The bundle's metadata.json content (format EXPORT_FORMAT): task, source checkpoint, file names,
    observation and action layouts with their normalizers, horizons, the DDIM tables and fixed initial noise of
    `num_inference_steps` steps, the residual scale, the ONNX sampling loop and the library versions."""
    base, cfg = deployable.base, deployable.base.cfg
    registered = deployable.task in list_tasks()
    return {
        "format": EXPORT_FORMAT,
        "task": deployable.task,
        "source_checkpoint": str(deployable.source),
        "iteration": deployable.iteration,
        "files": files,
        # What policy.pt reads, term by term: the policy's own layout, which may order the task's terms differently.
        "observation": {"group": POLICY_GROUP, "dim": cfg.obs_dim, "normalizer": _normalizer(base.obs_normalizer),
                        "layout": _layout(deployable.obs_layout)},
        "action": {"dim": cfg.action_dim, "normalizer": _normalizer(base.action_normalizer),
                   "layout": _layout(TASK_ACTION_LAYOUT if registered else None)},
        "horizons": {"obs_horizon": cfg.obs_horizon, "pred_horizon": cfg.pred_horizon,
                     "action_horizon": cfg.action_horizon},
        "diffusion": {"num_inference_steps": num_inference_steps, "eta": 0.0, "warm_start": deployable.warm_start,
                      "initial_noise": fixed_noise(cfg.pred_horizon, cfg.action_dim).tolist(),
                      **export_tables(base, num_inference_steps)},
        "residual": None if deployable.residual is None else {"scale": deployable.residual.scale},
        "onnx_loop": ONNX_LOOP.splitlines(),
        "versions": {**{name: _version(name) for name in _VERSIONED}, "python": platform.python_version()},
    }


def export_policy(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, num_inference_steps: int | None = None
                  ) -> Path:
    """Export a runner or BC checkpoint to `out_dir` (absent or empty). Raises CheckpointError for a bad
    checkpoint and ValueError for a policy or option that cannot be exported."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(f"exporting ONNX files needs {' and '.join(missing)}: pip install {' '.join(missing)}")
    deployable = load_deployable(checkpoint)
    if not isinstance(deployable.base, DiffusionPolicy):
        raise ValueError(f"export needs a diffusion base policy; {checkpoint} holds a {type(deployable.base).__name__}")
    steps = deployable.num_inference_steps if num_inference_steps is None else num_inference_steps
    deployable.base.ddim_tables(steps)  # validates the step count
    out = Path(out_dir)
    anchor = next(p for p in out.absolute().parents if p.exists())
    staging = anchor / f".{out.name}.{uuid.uuid4().hex[:8]}.partial"  # mkdir honours the umask, mkdtemp does not
    staging.mkdir()
    try:
        script_policy(deployable, steps).save(str(staging / TORCHSCRIPT_FILE))
        export_denoiser_step(deployable.base, steps, staging / DENOISER_FILE)
        if deployable.actor is not None:
            export_residual(deployable.actor, deployable.base.cfg.obs_dim, deployable.base.cfg.action_dim,
                            staging / RESIDUAL_FILE)
        files = {"torchscript": TORCHSCRIPT_FILE, "denoiser_step_onnx": DENOISER_FILE,
                 "residual_onnx": RESIDUAL_FILE if deployable.actor is not None else None}
        metadata = build_metadata(deployable, steps, files)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=1))
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)  # out is absent or an empty directory
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


@dataclass
class ExportedPolicy:
    """A loaded TorchScript bundle: the scripted policy, its metadata.json and the file it was read from."""
    module: torch.jit.ScriptModule
    metadata: dict
    path: Path

    @property
    def task(self) -> str | None:
        """The task the exported policy was trained on (None if unknown)."""
        return self.metadata["task"]

    def check_task(self, task: str) -> list[int] | None:
        """Columns of `task`'s observation that form the exported policy's input (None: the same layout),
        compared by term name and size. Raises CheckpointError unless the export was made for `task` and
        reads only terms the task has, with their sizes."""
        if self.task is not None and self.task != task:
            raise CheckpointError(f"the policy exported in {self.path} was trained on {self.task}, not {task}")
        obs_dim = get_task(task).obs_dim
        if self.metadata["observation"]["dim"] != obs_dim:
            raise CheckpointError(f"the policy exported in {self.path} expects {self.metadata['observation']['dim']}-D "
                                  f"observations but {task} has {obs_dim}")
        layout = self.metadata["observation"]["layout"]
        if layout is None:  # exported for a task outside the registry: its width is all we know
            return None
        try:
            return column_index(get_task(task).observation_layout, [(t["name"], t["dim"]) for t in layout],
                                f"task {task}", f"the policy exported in {self.path}")
        except LayoutError as exc:
            raise CheckpointError(str(exc)) from None


def load_exported(path: str | os.PathLike) -> ExportedPolicy:
    """Read an export directory back (metadata checked, policy.pt loaded). Raises CheckpointError."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path} is not an export directory: {METADATA_FILE} is missing")
    try:
        metadata = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is corrupt: {exc}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{meta_path} is not inril export metadata (expected format {EXPORT_FORMAT})")
    require(metadata, ["task", "observation"], str(meta_path))
    require(metadata["observation"], ["dim", "layout"], f"{meta_path}: 'observation'")
    module_path = path / TORCHSCRIPT_FILE
    if not module_path.is_file():
        raise CheckpointError(f"{path} is missing {TORCHSCRIPT_FILE}")
    try:
        module = torch.jit.load(str(module_path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError or others for truncated or foreign files
        raise CheckpointError(f"{module_path} is corrupt or not TorchScript ({first_sentence(exc)})") from None
    bad = nonfinite_tensors(dict(module.state_dict()))
    if bad:
        raise CheckpointError(f"{module_path} holds non-finite values (NaN or inf) in {', '.join(bad[:3])}")
    return ExportedPolicy(module, metadata, path)
