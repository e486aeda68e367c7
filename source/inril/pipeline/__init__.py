"""The main job on the embedded backend: scripted demos -> BC base -> IN-RIL training.

config (the job's typed config) -> presets (its defaults) -> compose (flags and overrides, checked) ->
stages (cached demos and base, cache) -> envs (training and evaluation envs) -> runs (run directories,
resume, summaries). The programs that run a job are in inril.apps.
"""
