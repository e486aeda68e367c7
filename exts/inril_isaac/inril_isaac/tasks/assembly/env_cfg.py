"""Isaac Lab 3 env configs of the assembly tasks, built from the inril task specs.

`AssemblyEnvCfg.__post_init__` turns the spec named by `task_name` into the scene (Isaac Lab's Franka, the
table, one RigidObject per part from the generated USDs), the observation groups (the spec's layouts, term
by term in order), the 10-D absolute pose action, the randomness level's reset events, the sparse reward
and the terminations. Every number comes from the spec through `inril_isaac.layout`. One subclass per
registered task fixes `task_name` (gymnasium's registry instantiates configs without arguments).

Physics: Isaac Sim PhysX by default; `physics=newton_mjwarp` on the command line selects the kit-less
Newton backend (MuJoCo Warp solver) through Isaac Lab 3's PresetCfg.
"""

from __future__ import annotations

from dataclasses import MISSING

import isaaclab.envs.mdp as isaac_mdp
import isaaclab.sim as sim_utils
from isaaclab.actuators import ImplicitActuatorCfg
from isaaclab.assets import ArticulationCfg, AssetBaseCfg, RigidObjectCfg
from isaaclab.controllers.differential_ik_cfg import DifferentialIKControllerCfg
from isaaclab.envs import ManagerBasedRLEnvCfg
from isaaclab.managers import EventTermCfg as EventTerm
from isaaclab.managers import ObservationGroupCfg as ObsGroup
from isaaclab.managers import ObservationTermCfg as ObsTerm
from isaaclab.managers import RewardTermCfg as RewTerm
from isaaclab.managers import SceneEntityCfg
from isaaclab.managers import TerminationTermCfg as DoneTerm
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.sim import SimulationCfg
from isaaclab.sim.schemas import CollisionBaseCfg
from isaaclab.sim.spawners.materials import RigidBodyMaterialBaseCfg
from isaaclab.utils import configclass
from isaaclab_assets.robots.franka import FRANKA_PANDA_HIGH_PD_CFG
from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg, NewtonCollisionPipelineCfg
from isaaclab_newton.sim.schemas import MujocoRigidBodyCfg
from isaaclab_physx.physics import PhysxCfg
from isaaclab_physx.sim.schemas import PhysxCollisionPropertiesCfg, PhysxRigidBodyCfg, PhysxRigidBodyPropertiesCfg
from isaaclab_tasks.utils import PresetCfg

from inril.tasks import get_task
from inril.tasks.spec import TaskSpec
from inril.tasks.usd import part_asset_path, robot_asset_path
from inril_isaac.layout import (
    ARM_ARMATURE,
    ARM_JOINT_NAMES,
    ARM_JOINTS_EXPR,
    ENV_SPACING,
    FINGER_ARMATURE,
    FINGER_GAINS,
    FINGER_JOINTS_EXPR,
    FINGER_OPEN,
    HAND_BODY,
    HOME_JOINTS,
    IK_DAMPING,
    NEWTON_MAX_CONTACTS,
    NEWTON_SOLVER,
    NEWTON_SUBSTEPS,
    NUM_ENVS,
    PART_FALL_HEIGHT,
    PHYSICS_DT,
    PHYSX_MAX_RIGID_PATCHES,
    TABLE_CENTER_XY,
    TABLE_HALF_SIZE,
    TCP_OFFSET,
    arm_joint_noise,
    asset_root,
    observation_groups,
    part_initial_pose,
    part_resets,
    push_impulse_scale,
    pushed_parts,
    reward_weight,
    timing,
)
from inril_isaac.tasks.assembly import mdp

ROBOT = SceneEntityCfg("robot", body_names=[HAND_BODY])
FINGERS = SceneEntityCfg("robot", joint_names=[FINGER_JOINTS_EXPR])


@configclass
class AssemblyPhysicsCfg(PresetCfg):
    """Physics backends the tasks run on; `default` is used without a `physics=` selection.

    Newton: contacts come from Newton's collision pipeline, not MuJoCo Warp's own collision detection. MuJoCo Warp
    3.12's box-box collider gives one contact per finger pad on the box-shaped parts where MuJoCo C gives a
    four-point manifold; with one point the pads sank 6-8 mm into the 24 mm peg and it slipped out (measured from
    one state with the same model: MuJoCo Warp closes to 7-14 mm, MuJoCo C and Newton's pipeline to 22 mm, the
    embedded backend's 22.4 mm; tests_isaaclab's grasp-parity test checks it).
    """

    default: PhysxCfg = PhysxCfg(bounce_threshold_velocity=0.2, gpu_max_rigid_patch_count=PHYSX_MAX_RIGID_PATCHES)
    physx: PhysxCfg = default
    newton_mjwarp: NewtonCfg = NewtonCfg(
        solver_cfg=MJWarpSolverCfg(njmax=4 * NEWTON_MAX_CONTACTS, nconmax=NEWTON_MAX_CONTACTS,
                                   use_mujoco_contacts=False, **NEWTON_SOLVER),
        collision_cfg=NewtonCollisionPipelineCfg(),
        num_substeps=NEWTON_SUBSTEPS,
        debug_mode=False,
    )


def franka_cfg() -> ArticulationCfg:
    """Isaac Lab's `FRANKA_PANDA_HIGH_PD_CFG` on the Franka USD converted from the embedded MJCF
    (`assets/robots/franka_panda.usda`), so the tasks build offline; `env.scene.robot.spawn.usd_path=...`
    selects another Franka with Isaac Lab's prim names (e.g. the official one where its asset root is reachable).

    Three changes towards the embedded backend's dynamics: gravity compensation on every link for Newton's MuJoCo
    solver (`mjc:gravcomp` = 1, as the MJCF; Newton ignores PhysX's per-body `disable_gravity`, and without it
    the 400 N m/rad arm sags by centimetres), and both finger joints driven with the embedded finger servo and
    armature (Isaac Lab's config drives only `panda_finger_joint1` and relies on the official asset's mimic
    joint), and the embedded arm joints' armature (0.1 kg m^2; Isaac Lab's config leaves it unset): without it
    the arm's joint torques flip sign at each new IK target, and a grasped peg spins out of the fingers during
    the lift (measured, PegInHole-Low and OneLeg-Low). The arm keeps Isaac Lab's high-PD gains: with the
    embedded 4500 N m/rad servos the arm ran away within a few control steps of a grasp on Newton (measured),
    where MuJoCo C holds them.
    """
    official = FRANKA_PANDA_HIGH_PD_CFG
    kp, kd, force = FINGER_GAINS
    return official.replace(
        spawn=official.spawn.replace(
            usd_path=str(robot_asset_path(asset_root())),
            variants=None,
            rigid_props=[PhysxRigidBodyCfg(disable_gravity=True, max_depenetration_velocity=5.0),
                         MujocoRigidBodyCfg(gravcomp=1.0)],
        ),
        actuators={
            "panda_arm": official.actuators["panda_arm"].replace(armature=ARM_ARMATURE),
            "panda_hand": ImplicitActuatorCfg(joint_names_expr=[FINGER_JOINTS_EXPR], joint_effort_limit=force,
                                              stiffness=kp, damping=kd, armature=FINGER_ARMATURE,
                                              viscous_friction=0.0),
        },
    )


@configclass
class AssemblySceneCfg(InteractiveSceneCfg):
    """Robot and table; the task's parts are added by AssemblyEnvCfg from the spec."""

    robot: ArticulationCfg = franka_cfg().replace(
        prim_path="{ENV_REGEX_NS}/Robot",
        init_state=ArticulationCfg.InitialStateCfg(
            pos=(0.0, 0.0, 0.0),
            rot=(0.0, 0.0, 0.0, 1.0),  # (x, y, z, w): the base frame is the env frame
            joint_pos={**dict(zip(ARM_JOINT_NAMES, HOME_JOINTS)), FINGER_JOINTS_EXPR: FINGER_OPEN},
        ),
    )
    table: AssetBaseCfg = AssetBaseCfg(
        prim_path="{ENV_REGEX_NS}/Table",
        spawn=sim_utils.CuboidCfg(
            size=tuple(2.0 * h for h in TABLE_HALF_SIZE),
            collision_props=CollisionBaseCfg(),
            physics_material=RigidBodyMaterialBaseCfg(),  # friction set from the spec
            visual_material=sim_utils.PreviewSurfaceCfg(diffuse_color=(0.75, 0.72, 0.68)),
        ),
        init_state=AssetBaseCfg.InitialStateCfg(pos=(*TABLE_CENTER_XY, -TABLE_HALF_SIZE[2])),
    )
    light: AssetBaseCfg = AssetBaseCfg(prim_path="/World/light", spawn=sim_utils.DomeLightCfg(intensity=2500.0))


@configclass
class ObservationsCfg:
    """`policy` and `critic` groups; their terms are the spec's layouts, added in order."""

    @configclass
    class LayoutGroupCfg(ObsGroup):
        def __post_init__(self) -> None:
            self.enable_corruption = False
            self.concatenate_terms = True

    policy: LayoutGroupCfg = LayoutGroupCfg()
    critic: LayoutGroupCfg = LayoutGroupCfg()


@configclass
class ActionsCfg:
    """[tool position 3, 6-D rotation 6] then [gripper 1]: the task's 10-D absolute action (layout.ACTION_TERMS)."""

    arm: mdp.Rot6dPoseActionCfg = mdp.Rot6dPoseActionCfg(
        asset_name="robot",
        joint_names=[ARM_JOINTS_EXPR],
        body_name=HAND_BODY,
        controller=DifferentialIKControllerCfg(
            command_type="pose", use_relative_mode=False, ik_method="dls", ik_params={"lambda_val": IK_DAMPING}
        ),
        body_offset=mdp.Rot6dPoseActionCfg.OffsetCfg(pos=(0.0, 0.0, TCP_OFFSET)),
    )
    gripper: mdp.CloseOnPositiveGripperActionCfg = mdp.CloseOnPositiveGripperActionCfg(
        asset_name="robot",
        joint_names=[FINGER_JOINTS_EXPR],
        open_command_expr={FINGER_JOINTS_EXPR: FINGER_OPEN},
        close_command_expr={FINGER_JOINTS_EXPR: 0.0},
    )


@configclass
class EventsCfg:
    """Reset events in order: defaults, arm joint noise; AssemblyEnvCfg appends the part poses and the push."""

    reset_scene = EventTerm(func=isaac_mdp.reset_scene_to_default, mode="reset", params={"reset_joint_targets": True})
    arm_joint_noise = EventTerm(
        func=isaac_mdp.reset_joints_by_offset,
        mode="reset",
        params={"position_range": (0.0, 0.0), "velocity_range": (0.0, 0.0),
                "asset_cfg": SceneEntityCfg("robot", joint_names=[ARM_JOINTS_EXPR])},
    )


@configclass
class RewardsCfg:
    assembly = RewTerm(func=mdp.newly_assembled, weight=1.0)  # weight set so each pair is worth +1
    # Off by default (FurnitureBench's sparse reward); `env.rewards.shaping.weight=1.0` matches the embedded
    # backend's `env.shaping_weight=1.0`. The reward manager skips zero-weight terms.
    shaping = RewTerm(func=mdp.assembly_shaping, weight=0.0)


@configclass
class TerminationsCfg:
    time_out = DoneTerm(func=isaac_mdp.time_out, time_out=True)
    success = DoneTerm(func=mdp.assembly_success)


@configclass
class AssemblyEnvCfg(ManagerBasedRLEnvCfg):
    task_name: str = MISSING
    # Isaac Lab's recorder manager writes `cfg.env_name` into a dataset's env_args; our loader reads a file whose
    # env_name is one of our tasks as (w, x, y, z) quaternions (inril.data.demos). Set from task_name.
    env_name: str = ""
    scene: AssemblySceneCfg = AssemblySceneCfg(num_envs=NUM_ENVS, env_spacing=ENV_SPACING)
    observations: ObservationsCfg = ObservationsCfg()
    actions: ActionsCfg = ActionsCfg()
    events: EventsCfg = EventsCfg()
    rewards: RewardsCfg = RewardsCfg()
    terminations: TerminationsCfg = TerminationsCfg()
    sim: SimulationCfg = SimulationCfg(dt=PHYSICS_DT, physics=AssemblyPhysicsCfg())

    def __post_init__(self) -> None:
        spec = get_task(self.task_name)
        self.env_name = self.env_name or self.task_name
        steps = timing(spec, self.sim.dt)
        self.decimation = steps.decimation
        self.episode_length_s = steps.episode_length_s
        self.sim.render_interval = steps.decimation
        self.scene.table.spawn.physics_material.static_friction = spec.table_friction
        self.scene.table.spawn.physics_material.dynamic_friction = spec.table_friction
        self._add_parts(spec)
        self._add_observations(spec)
        self._add_reset_events(spec)
        self.rewards.assembly.weight = reward_weight(spec)

    def _add_parts(self, spec: TaskSpec) -> None:
        for part in spec.parts:
            pos, rot = part_initial_pose(part)
            setattr(self.scene, part.name, RigidObjectCfg(
                prim_path=f"{{ENV_REGEX_NS}}/{part.name}",
                spawn=sim_utils.UsdFileCfg(
                    usd_path=str(part_asset_path(asset_root(), spec.family, part.name)),
                    # PhysX: small contact offsets and extra solver iterations for the 1 mm clearances.
                    collision_props=PhysxCollisionPropertiesCfg(contact_offset=0.005, rest_offset=0.0),
                    rigid_props=PhysxRigidBodyPropertiesCfg(
                        solver_position_iteration_count=32, solver_velocity_iteration_count=1,
                        max_depenetration_velocity=5.0,
                    ),
                ),
                init_state=RigidObjectCfg.InitialStateCfg(pos=pos, rot=rot),
            ))
            setattr(self.terminations, f"{part.name}_fell", DoneTerm(
                func=isaac_mdp.root_height_below_minimum,
                params={"minimum_height": PART_FALL_HEIGHT, "asset_cfg": SceneEntityCfg(part.name)},
                time_out=True,  # a lost part truncates the episode, as in the embedded backend
            ))

    def _add_observations(self, spec: TaskSpec) -> None:
        part_names = [part.name for part in spec.parts]
        params = {"gripper_width": {"robot_cfg": FINGERS}, "parts_poses": {"part_names": part_names},
                  "parts_vels": {"part_names": part_names}}
        for group_name, layout in observation_groups(spec).items():
            group = getattr(self.observations, group_name)
            for term, _dim in layout:
                setattr(group, term, ObsTerm(func=getattr(mdp, term), params=params.get(term, {"robot_cfg": ROBOT})))

    def _add_reset_events(self, spec: TaskSpec) -> None:
        noise = arm_joint_noise(spec)
        self.events.arm_joint_noise.params["position_range"] = (-noise, noise)
        for reset in part_resets(spec):
            setattr(self.events, f"reset_{reset.name}", EventTerm(
                func=mdp.reset_part_pose,
                mode="reset",
                params={"asset_cfg": SceneEntityCfg(reset.name), "xy_range": reset.xy_range, "yaw_range": reset.yaw_range},
            ))
        scale = push_impulse_scale(self.sim.dt)
        level = spec.randomness
        self.events.push_parts = EventTerm(
            func=mdp.push_parts,
            mode="reset",
            params={"part_names": list(pushed_parts(spec)), "max_force": level.max_force * scale,
                    "max_torque": level.max_torque * scale},
        )


# One config per registered task (inril_isaac.registration names them <Family><Level>EnvCfg).


@configclass
class PegInHoleLowEnvCfg(AssemblyEnvCfg):
    task_name: str = "PegInHole-Low"


@configclass
class PegInHoleMedEnvCfg(AssemblyEnvCfg):
    task_name: str = "PegInHole-Med"


@configclass
class OneLegLowEnvCfg(AssemblyEnvCfg):
    task_name: str = "OneLeg-Low"


@configclass
class OneLegMedEnvCfg(AssemblyEnvCfg):
    task_name: str = "OneLeg-Med"


@configclass
class LampLowEnvCfg(AssemblyEnvCfg):
    task_name: str = "Lamp-Low"


@configclass
class LampMedEnvCfg(AssemblyEnvCfg):
    task_name: str = "Lamp-Med"


@configclass
class RoundTableLowEnvCfg(AssemblyEnvCfg):
    task_name: str = "RoundTable-Low"


@configclass
class RoundTableMedEnvCfg(AssemblyEnvCfg):
    task_name: str = "RoundTable-Med"


@configclass
class MugRackLowEnvCfg(AssemblyEnvCfg):
    task_name: str = "MugRack-Low"


@configclass
class MugRackMedEnvCfg(AssemblyEnvCfg):
    task_name: str = "MugRack-Med"
