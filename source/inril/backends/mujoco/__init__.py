"""Embedded MuJoCo backend: batched envs stepped in C threads, a code-generated Franka, task scenes from specs."""

from inril.backends.mujoco.vec_env import MujocoEnvConfig, MujocoVecEnv, make_env

__all__ = ["MujocoEnvConfig", "MujocoVecEnv", "make_env"]
