"""The observation groups of the VecEnv contract, named once.

`POLICY_GROUP` is the group every backend provides (Isaac Lab's and rsl-rl-lib's name for the policy's
observations: the task's terms concatenated in its layout, inril.data.layout); the residual env
(inril.residual.env) normalizes it and adds `BASE_ACTION_GROUP`, the base's normalized action for the current
step (A,). The residual actor and the critic read both (`ACTOR_OBS_GROUPS`).
"""

POLICY_GROUP = "policy"
CRITIC_GROUP = "critic"  # privileged observations (the critic layout, inril.tasks.spec), every backend provides it
BASE_ACTION_GROUP = "base_action"
ACTOR_OBS_GROUPS = (POLICY_GROUP, BASE_ACTION_GROUP)
