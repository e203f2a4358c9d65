"""Write docs/populations.md: the simulated populations against the published ones (issue 21).

Usage: ``.venv/bin/python scripts/write_populations_table.py [--n 400] [--seed 42]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agn_saliency.acquire.simulate.populations import populations_markdown

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="spectra per class")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    target = ROOT / "docs" / "populations.md"
    partial = target.with_suffix(".md.partial")
    partial.write_text(populations_markdown(args.n, args.seed), encoding="utf-8")
    os.replace(partial, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
