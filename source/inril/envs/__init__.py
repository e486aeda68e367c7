"""Environments behind the VecEnv contract of DESIGN.md: the embedded MuJoCo backend and the residual wrapper."""
