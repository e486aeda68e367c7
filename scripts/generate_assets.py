"""Generate the USD part assets of every registered task from its spec, or check the committed ones.

    python scripts/generate_assets.py            # (re)write assets/<family>/<part>.usda
    python scripts/generate_assets.py --check    # exit 1 if the committed files differ from the specs

The files are deterministic: regenerating unchanged specs rewrites them byte for byte.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inril.backends.usd.assets import check_assets, generate_assets
from inril.utils.cli import fail

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "assets"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"asset directory (default: {DEFAULT_ROOT})")
    parser.add_argument("--check", action="store_true", help="only compare the files with what the specs generate")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.check:
        problems = check_assets(args.root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return fail(f"{len(problems)} asset file(s) out of date; run scripts/generate_assets.py", code=1)
        print(f"assets under {args.root} match the task specs")
        return 0
    for path in generate_assets(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
