"""Contract tests of the Isaac Lab extension, run without Isaac Sim: packaging, task registration (checked
on the source with ast), and the spec -> Isaac Lab layout against the embedded MuJoCo backend."""

from __future__ import annotations

import ast
import math
import sys
import tomllib
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[1] / "exts" / "inril_isaac"
sys.path.insert(0, str(EXT))

from inril.backends.mujoco import franka, make_env  # noqa: E402
from inril.backends.mujoco.controller import ACTION_DIM, DiffIKConfig  # noqa: E402
from inril.backends.mujoco.scene import TABLE_CENTER_XY, TABLE_HALF_SIZE, SimConfig  # noqa: E402
from inril.backends.mujoco.vec_env import MujocoEnvConfig  # noqa: E402
from inril.tasks import get_task, list_tasks  # noqa: E402
from inril_isaac import layout  # noqa: E402
from inril_isaac.registration import task_registrations  # noqa: E402


def _module_file(module: str) -> Path:
    path = EXT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _classes(path: Path) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)}


def _base_names(cls: ast.ClassDef) -> list[str]:
    return [ast.unparse(base) for base in cls.bases]


def test_extension_toml_names_the_module_and_matches_the_package():
    toml = tomllib.loads((EXT / "config" / "extension.toml").read_text())
    project = tomllib.loads((EXT / "pyproject.toml").read_text())["project"]
    assert [m["name"] for m in toml["python"]["module"]] == ["inril_isaac"]
    assert set(toml["dependencies"]) == {"isaaclab", "isaaclab_assets", "isaaclab_rl", "isaaclab_tasks"}
    assert toml["package"]["version"] == project["version"]
    assert project["name"] == "inril_isaac" and (EXT / "inril_isaac" / "__init__.py").is_file()


def test_every_task_is_registered_with_entry_points_that_exist():
    registrations = task_registrations()
    assert [r["id"] for r in registrations] == list_tasks()
    for registration in registrations:
        assert registration["disable_env_checker"] is True
        module, name = registration["entry_point"].split(":")
        env_class = _classes(_module_file(module))[name]
        assert _base_names(env_class) == ["ManagerBasedRLEnv"]
        module, name = registration["kwargs"]["env_cfg_entry_point"].split(":")
        cfg_classes = _classes(_module_file(module))
        assert _base_names(cfg_classes[name]) == ["AssemblyEnvCfg"]
        assigned = {ast.unparse(s.target): ast.literal_eval(s.value) for s in cfg_classes[name].body
                    if isinstance(s, ast.AnnAssign)}
        assert assigned == {"task_name": registration["id"]}
        assert _base_names(cfg_classes["AssemblyEnvCfg"]) == ["ManagerBasedRLEnvCfg"]
        module, name = registration["kwargs"]["rsl_rl_cfg_entry_point"].split(":")
        assert _base_names(_classes(_module_file(module))[name]) == ["RslRlOnPolicyRunnerCfg"]


def test_tasks_package_registers_the_generated_list_with_gymnasium():
    tree = ast.parse(_module_file("inril_isaac.tasks").read_text())
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.For)]
    assert len(loops) == 1 and ast.unparse(loops[0].iter) == "task_registrations()"
    assert ast.unparse(loops[0].body[0]) == "gym.register(**_registration)"


def test_mdp_defines_every_observation_term_of_every_task():
    functions = {node.name for node in ast.parse(_module_file("inril_isaac.tasks.assembly.mdp").read_text()).body
                 if isinstance(node, ast.FunctionDef)}
    for task in list_tasks():
        for layout_terms in layout.observation_groups(get_task(task)).values():
            assert {term for term, _ in layout_terms} <= functions


@pytest.mark.parametrize("task", list_tasks())
def test_observation_and_action_layouts_equal_the_embedded_env(task):
    spec = get_task(task)
    env = make_env(task, num_envs=1, seed=0, num_threads=1, settle_time=0.0, perturb_time=0.0)
    try:
        obs, terms = env.get_observations(), env.obs_terms()
        groups = layout.observation_groups(spec)
        assert list(groups) == ["policy", "critic"]
        for group, group_layout in groups.items():
            assert obs[group].shape[-1] == sum(dim for _, dim in group_layout)
            assert [(name, terms[name].shape[-1]) for name, _ in group_layout] == list(group_layout)
        assert sum(dim for _, dim in layout.ACTION_TERMS) == ACTION_DIM == env.num_actions
        assert env.max_episode_length == spec.episode_length
    finally:
        env.close()


def test_robot_and_controller_constants_mirror_the_embedded_backend():
    assert layout.HOME_JOINTS == pytest.approx(tuple(franka.HOME_JOINTS))
    assert layout.TCP_OFFSET == franka.TCP_OFFSET and layout.FINGER_OPEN == franka.FINGER_TRAVEL
    servo = franka.FrankaActuatorConfig()
    assert layout.FINGER_GAINS == (servo.gripper_kp, servo.gripper_kv, servo.gripper_force)
    assert layout.FINGER_ARMATURE == pytest.approx(servo.armature * 0.1)  # add_franka's finger armature
    assert layout.ARM_ARMATURE == servo.armature
    ik = DiffIKConfig()
    assert (layout.IK_DAMPING, layout.MAX_POS_STEP, layout.MAX_ROT_STEP) == (ik.damping, ik.max_pos_step, ik.max_rot_step)
    assert layout.TABLE_HALF_SIZE == TABLE_HALF_SIZE and layout.TABLE_CENTER_XY == TABLE_CENTER_XY
    sim = SimConfig()
    assert layout.NEWTON_SOLVER["iterations"] == sim.iterations
    assert layout.NEWTON_SOLVER["ls_iterations"] == sim.ls_iterations
    assert (layout.NEWTON_SOLVER["cone"], layout.NEWTON_SOLVER["impratio"]) == (sim.cone, sim.impratio)
    assert layout.PUSH_TIME == MujocoEnvConfig.__dataclass_fields__["perturb_time"].default


@pytest.mark.parametrize("task", list_tasks())
def test_timing_reward_and_randomness_follow_the_spec(task):
    spec = get_task(task)
    steps = layout.timing(spec)
    assert steps.step_dt == pytest.approx(1.0 / spec.control_hz)
    assert math.ceil(steps.episode_length_s / steps.step_dt) == spec.episode_length  # Isaac Lab's own rounding
    assert layout.reward_weight(spec) * steps.step_dt == pytest.approx(1.0)
    level = spec.randomness
    resets = {r.name: r for r in layout.part_resets(spec)}
    assert list(resets) == [p.name for p in spec.parts]
    for part in spec.parts:
        expected = (level.obstacle_offset, 0.0) if part.obstacle else (level.part_pos_range, level.part_yaw_range)
        assert (resets[part.name].xy_range, resets[part.name].yaw_range) == expected
    assert layout.pushed_parts(spec) == tuple(p.name for p in spec.parts if not p.obstacle)
    assert layout.arm_joint_noise(spec) == pytest.approx(math.radians(level.joint_noise_deg))
    assert layout.push_impulse_scale() * layout.PHYSICS_DT == pytest.approx(layout.PUSH_TIME)
    for part in spec.parts:
        pos, rot = layout.part_initial_pose(part)
        assert pos == part.init_pose.pos and rot == (*part.init_pose.quat[1:], part.init_pose.quat[0])
        assert (layout.asset_root() / spec.family / f"{part.name}.usda").is_file()


def test_timing_rejects_a_control_period_that_is_not_whole_physics_steps():
    with pytest.raises(ValueError, match="whole number"):
        layout.timing(get_task(list_tasks()[0]), physics_dt=0.03)


def test_reward_terms_are_the_sparse_assembly_reward_and_a_shaping_term_that_is_off_by_default():
    rewards = _classes(_module_file("inril_isaac.tasks.assembly.env_cfg"))["RewardsCfg"]
    terms = {node.targets[0].id: node.value for node in rewards.body if isinstance(node, ast.Assign)}
    assert list(terms) == ["assembly", "shaping"]
    calls = {name: {kw.arg: ast.unparse(kw.value) for kw in call.keywords} for name, call in terms.items()}
    assert calls["assembly"]["func"] == "mdp.newly_assembled"
    assert calls["shaping"] == {"func": "mdp.assembly_shaping", "weight": "0.0"}
    mdp = {node.name: node for node in ast.parse(_module_file("inril_isaac.tasks.assembly.mdp").read_text()).body
           if isinstance(node, ast.FunctionDef)}
    # The reward manager multiplies by the step dt: the term divides it out, so its weight means what the embedded
    # env's shaping_weight means.
    assert "/ env.step_dt" in ast.unparse(mdp["assembly_shaping"])
