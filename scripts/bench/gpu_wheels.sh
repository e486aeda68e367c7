#!/usr/bin/env bash
# Download the wheels of scripts/bench/gpu_wheels.txt for Python 3.12 / manylinux x86_64 into .whl/ (git-ignored),
# to carry to a GPU machine that cannot reach a package index; then check that they add up to less than 60 MiB.
#
#   bash scripts/bench/gpu_wheels.sh [DIR]      # DIR defaults to .whl in the repository root
#
# Lines marked "sdist" have no wheel on PyPI: pip builds a pure-Python wheel from the source archive here.
# Exits 1 when a wheel cannot be had, when DIR holds other wheels than the listed ones, or when the total is over.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIST="$ROOT/scripts/bench/gpu_wheels.txt"
DIR="${1:-$ROOT/.whl}"
LIMIT=$((60 * 1024 * 1024))
PY="${PYTHON:-python3}"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

mkdir -p "$DIR"
specs=()
while read -r spec _size kind; do
    [[ -z "$spec" || "$spec" == \#* ]] && continue
    specs+=("$spec")
    if [[ "$kind" == "sdist" ]]; then
        "$PY" -m pip wheel -q --no-deps --no-binary :all: -w "$DIR" "$spec"
    else
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            "${PLATFORMS[@]}" -d "$DIR" "$spec"
    fi
done < "$LIST"

# One wheel per listed name and nothing else: two versions of one package stop the install there.
"$PY" - "$DIR" "$LIMIT" "${specs[@]}" <<'EOF'
import re, sys
from pathlib import Path

folder, limit, specs = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
norm = lambda name: re.sub(r"[-_.]+", "_", name).lower()
wanted = {norm(s.split("==")[0]): s.split("==")[1] for s in specs}
wheels = sorted(folder.glob("*.whl"))
found = {}
for wheel in wheels:
    name, version = wheel.name.split("-")[:2]
    found.setdefault(norm(name), []).append(version)
extra = sorted(set(found) - set(wanted))
doubled = sorted(n for n, v in found.items() if len(v) > 1)
wrong = sorted(n for n in wanted if found.get(n, [None])[0] != wanted[n])
total = sum(w.stat().st_size for w in wheels)
for wheel in wheels:
    print(f"{wheel.stat().st_size:>10}  {wheel.name}")
print(f"{total:>10}  total ({total / 2**20:.1f} MiB of {limit / 2**20:.0f} MiB) in {folder}")
problems = ([f"not listed in gpu_wheels.txt: {extra}"] if extra else []) + \
           ([f"more than one version of {doubled}"] if doubled else []) + \
           ([f"missing or another version: {wrong}"] if wrong else []) + \
           ([f"total {total} bytes is over the limit"] if total >= limit else [])
for problem in problems:
    print(f"error: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
