"""The Franka USD converted from the embedded MJCF: Isaac Lab's names, joints and drives, the MJCF's kinematics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pxr import Usd, UsdPhysics

from inril.backends.usd.franka import HIGH_PD_ARM_GAINS, HIGH_PD_FINGER_GAINS, compiled_franka, franka_layer_text


@pytest.fixture(scope="module")
def stage() -> Usd.Stage:
    stage = Usd.Stage.CreateInMemory()
    stage.GetRootLayer().ImportFromString(franka_layer_text())
    return stage


def test_isaaclab_prim_names_and_articulation(stage):
    root = stage.GetDefaultPrim()
    assert root.GetName() == "panda" and root.HasAPI(UsdPhysics.ArticulationRootAPI)
    bodies = {p.GetName() for p in root.GetChildren() if p.HasAPI(UsdPhysics.RigidBodyAPI)}
    assert bodies == {*(f"panda_link{i}" for i in range(8)), "panda_hand", "panda_leftfinger", "panda_rightfinger"}
    joints = {p.GetName(): p for p in Usd.PrimRange(root) if p.IsA(UsdPhysics.Joint)}
    assert set(joints) == {*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2",
                           "panda_hand_joint", "root_joint"}
    fixed_root = UsdPhysics.Joint(joints["root_joint"])
    assert joints["root_joint"].IsA(UsdPhysics.FixedJoint) and not fixed_root.GetBody0Rel().GetTargets()
    assert joints["panda_hand_joint"].IsA(UsdPhysics.FixedJoint)


def test_drives_have_the_high_pd_gains_on_both_fingers(stage):
    for i in range(1, 8):
        drive = UsdPhysics.DriveAPI(stage.GetPrimAtPath(f"/panda/joints/panda_joint{i}"), "angular")
        stiffness, damping = HIGH_PD_ARM_GAINS  # per rad; USD angular drives are per degree
        assert drive.GetStiffnessAttr().Get() == pytest.approx(stiffness * math.pi / 180, rel=1e-6)
        assert drive.GetDampingAttr().Get() == pytest.approx(damping * math.pi / 180, rel=1e-6)
    for i in (1, 2):
        prim = stage.GetPrimAtPath(f"/panda/joints/panda_finger_joint{i}")
        drive = UsdPhysics.DriveAPI(prim, "linear")
        assert (drive.GetStiffnessAttr().Get(), drive.GetDampingAttr().Get()) == HIGH_PD_FINGER_GAINS
        joint = UsdPhysics.PrismaticJoint(prim)
        assert (joint.GetLowerLimitAttr().Get(), joint.GetUpperLimitAttr().Get()) == (0.0, pytest.approx(0.04))


def test_bodies_sit_where_the_mjcf_puts_them_with_gravity_compensation(stage):
    model, data = compiled_franka()
    names = {"hand": "panda_hand", "finger_left": "panda_leftfinger", "finger_right": "panda_rightfinger",
             **{f"link{i}": f"panda_link{i}" for i in range(8)}}
    for mj_name, usd_name in names.items():
        prim = stage.GetPrimAtPath(f"/panda/{usd_name}")
        b = model.body(mj_name).id
        translate = np.array(prim.GetAttribute("xformOp:translate").Get())
        np.testing.assert_allclose(translate, data.xpos[b], atol=1e-8, err_msg=usd_name)
        assert UsdPhysics.MassAPI(prim).GetMassAttr().Get() == pytest.approx(model.body_mass[b])
        gravcomp = prim.GetAttribute("mjc:gravcomp")
        assert (gravcomp.Get() if gravcomp else 0.0) == model.body_gravcomp[b]
