#!/usr/bin/env bash
# inril.sh: set up the project's virtualenv (once) and run its jobs, like Isaac Lab's isaaclab.sh.
#
#   ./inril.sh main              the main job on the embedded MuJoCo backend (see README)
#   ./inril.sh test [pytest args]  the test suite
#   ./inril.sh -p SCRIPT [args]  any script with the project's Python
#   ./inril.sh setup             only install
#
# torch is installed first, pinned to INRIL_TORCH (default torch==2.13.0): on our CPU machines that
# resolves to the local CPU wheel, so resolving the project's own `torch>=2.4` never pulls the
# multi-GB CUDA build. Set INRIL_TORCH to another spec (e.g. a CUDA build) where you want one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${INRIL_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
STAMP="$VENV/.inril-installed"

setup() {
    if [[ -f "$STAMP" && "$STAMP" -nt "$ROOT/pyproject.toml" && "$STAMP" -nt "$ROOT/requirements-interop.txt" ]]; then
        return
    fi
    echo "[inril] setting up $VENV (first run takes a few minutes)" >&2
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "${INRIL_TORCH:-torch==2.13.0}"
    "$PY" -m pip install --quiet -e "$ROOT[mujoco,warp,export,dev]"
    # robomimic's own demo reader for the interop tests (see the file for why --no-deps)
    "$PY" -m pip install --quiet --no-deps -r "$ROOT/requirements-interop.txt"
    touch "$STAMP"
}

cmd="${1:-main}"
[[ $# -gt 0 ]] && shift
setup
cd "$ROOT"
case "$cmd" in
    setup) ;;
    main) exec "$PY" scripts/train_residual.py --task OneLeg-Low --preset laptop "$@" ;;
    test) exec "$PY" -m pytest "$@" ;;
    -p) exec "$PY" "$@" ;;
    *) echo "usage: ./inril.sh {main|test|setup|-p SCRIPT} [args]" >&2; exit 2 ;;
esac
