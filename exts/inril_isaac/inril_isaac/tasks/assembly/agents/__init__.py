"""rsl-rl-lib 5 runner configurations of the assembly tasks."""
