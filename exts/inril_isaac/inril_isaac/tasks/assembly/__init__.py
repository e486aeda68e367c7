"""The furniture-assembly tasks as manager-based Isaac Lab envs, one config class per inril task."""
