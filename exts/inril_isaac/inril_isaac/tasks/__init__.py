"""Registers every inril task (`PegInHole-Low`, `OneLeg-Med`, ...) as a gymnasium id for Isaac Lab.

The ids, entry points and config classes come from `inril_isaac.registration`, generated from inril's
task registry; a task added there is registered here without edits (its env config class must exist in
`tasks/assembly/env_cfg.py`; a contract test checks).
"""

import gymnasium as gym

from inril_isaac.registration import task_registrations

for _registration in task_registrations():
    gym.register(**_registration)
