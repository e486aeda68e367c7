"""Deployment: the trained policy as TorchScript (policy.pt) and ONNX files with metadata.json.

    export_policy(checkpoint, out_dir)   runner model_<it>.pt or BC policy.pt -> export directory
    load_exported(out_dir)               -> ExportedPolicy(module, metadata): what play.py --exported runs
    load_deployable(checkpoint)          -> the in-library base + residual actor that play.py --checkpoint runs
"""

from inril.export.bundle import ExportedPolicy, export_policy, load_exported
from inril.export.deployable import Deployable, load_deployable

__all__ = ["Deployable", "ExportedPolicy", "export_policy", "load_deployable", "load_exported"]
