#!/usr/bin/env bash
# inril.sh: set up the project's virtualenv (once) and run its jobs, like Isaac Lab's isaaclab.sh.
#
#   ./inril.sh main              the main job on the embedded MuJoCo backend (see README)
#   ./inril.sh test [pytest args]  the test suite
#   ./inril.sh -p SCRIPT [args]  any script with the project's Python
#   ./inril.sh setup             only install
#   ./inril.sh isaaclab-setup    install the Isaac Lab 3 environment (.venv-isaaclab, see exts/inril_isaac/README.md)
#   ./inril.sh isaaclab -p SCRIPT [args]   any script in it, like Isaac Lab's `isaaclab.sh -p`
#   ./inril.sh isaaclab test [pytest args] its integration tests (tests_isaaclab/, or the test paths given)
#
# torch is installed first, pinned to INRIL_TORCH (default torch==2.13.0): on our CPU machines that
# resolves to the local CPU wheel, so resolving the project's own `torch>=2.4` never pulls the
# multi-GB CUDA build. Set INRIL_TORCH to another spec (e.g. a CUDA build) where you want one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${INRIL_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
STAMP="$VENV/.inril-installed"
ISAAC_VENV="${INRIL_ISAACLAB_VENV:-$ROOT/.venv-isaaclab}"
ISAAC_PY="$ISAAC_VENV/bin/python"
ISAAC_REQS="$ROOT/exts/inril_isaac/requirements-isaaclab.txt"
ISAACLAB_VERSION="3.0.0"

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

# The Isaac Lab environment: its own virtualenv, because Isaac Lab 3.0.0's newton pins mujoco-warp 3.12 where
# our `warp` extra needs >= 4.0 (the embedded backend's Warp stepper), and its usd-exchange provides the `pxr`
# that usd-core (our dev extra) would shadow. isaaclab 3.0.0 declares Python >= 3.12 and torch 2.11; on 3.11 its
# sources run unchanged with torch 2.13, so there it is installed without its metadata (--no-deps
# --ignore-requires-python) and its runtime needs come by name from $ISAAC_REQS.
isaaclab_setup() {
    if [[ -f "$ISAAC_VENV/.inril-installed" && "$ISAAC_VENV/.inril-installed" -nt "$ROOT/pyproject.toml" \
          && "$ISAAC_VENV/.inril-installed" -nt "$ISAAC_REQS" ]]; then
        return
    fi
    echo "[inril] setting up the Isaac Lab environment $ISAAC_VENV (first run takes a few minutes)" >&2
    [[ -x "$ISAAC_PY" ]] || python3 -m venv "$ISAAC_VENV"
    local pip=("$ISAAC_PY" -m pip install --quiet)
    "${pip[@]}" --upgrade pip
    "${pip[@]}" "${INRIL_TORCH:-torch==2.13.0}"
    if "$ISAAC_PY" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
        "${pip[@]}" "isaaclab==$ISAACLAB_VERSION" -r "$ISAAC_REQS"
    else
        "${pip[@]}" -r "$ISAAC_REQS"
        "${pip[@]}" --no-deps --ignore-requires-python "isaaclab==$ISAACLAB_VERSION"
    fi
    "${pip[@]}" -e "$ROOT[mujoco,export]"
    "${pip[@]}" --no-deps -e "$ROOT/exts/inril_isaac"
    touch "$ISAAC_VENV/.inril-installed"
}

cmd="${1:-main}"
[[ $# -gt 0 ]] && shift
if [[ "$cmd" == isaaclab* ]]; then
    isaaclab_setup
else
    setup
fi
cd "$ROOT"
case "$cmd" in
    setup|isaaclab-setup) ;;
    isaaclab)
        sub="${1:-}"
        [[ $# -gt 0 ]] && shift
        case "$sub" in
            -p) exec "$ISAAC_PY" "$@" ;;
            # tests_isaaclab unless a test path is given (pytest would run the whole folder and the path)
            test) [[ " $* " == *" tests_isaaclab"* ]] || set -- tests_isaaclab "$@"
                  exec "$ISAAC_PY" -m pytest "$@" ;;
            *) echo "usage: ./inril.sh isaaclab {-p SCRIPT|test} [args]" >&2; exit 2 ;;
        esac ;;
    main) exec "$PY" scripts/train_residual.py --task OneLeg-Low --preset laptop "$@" ;;
    test) exec "$PY" -m pytest "$@" ;;
    -p) exec "$PY" "$@" ;;
    *) echo "usage: ./inril.sh {main|test|setup|-p SCRIPT|isaaclab-setup|isaaclab {-p SCRIPT|test}} [args]" >&2; exit 2 ;;
esac
