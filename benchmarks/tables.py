"""Why the pipeline's ECSV tables bypass astropy: a job's table I/O in a fresh process, both ways.

Most jobs write or read one small ECSV table and little else, so the measure is what a job pays:
a fresh Python process that imports ``agn_saliency.io.tables``, reads the split table (3346 rows: the
embedded sample's size) and writes it back, with ``fast=True`` (the default:
:mod:`agn_saliency.io.ecsv`, the same bytes) against ``fast=False`` (astropy.table). Both are run
``--repeats`` times in alternation; the fastest of each gives the ratio, from the same run.

    python benchmarks/tables.py [--rows 3346] [--repeats 5]

The last line printed is one JSON object: {"rows": …, "fast_s": …, "astropy_s": …, "ratio": …}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
JOB = """
import sys
sys.path.insert(0, {src!r})
from agn_saliency.io.tables import read_table, write_table
rows = read_table({path!r}, fast={fast})
write_table({out!r}, rows, list(rows[0]), fast={fast})
"""


def one_job(path: Path, out: Path, fast: bool) -> float:
    """Wall seconds of a fresh interpreter that reads ``path`` and writes it to ``out``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", JOB.format(src=str(SRC), path=str(path), out=str(out), fast=fast)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3346)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(SRC))
    from agn_saliency.io.tables import write_table

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [
            {
                "specid": f"{1000 + i % 2000:04d}-5{i % 10000:04d}-{i % 1000:04d}",
                "label": ("type1", "type2")[i % 2],
                "subset": "train",
            }
            for i in range(args.rows)
        ]
        write_table(folder / "split.ecsv", rows, ["specid", "label", "subset"], fast=False)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):
            for fast in (False, True):
                times[fast].append(one_job(folder / "split.ecsv", folder / f"out-{fast}.ecsv", fast))
        same = (folder / "out-True.ecsv").read_bytes() == (folder / "out-False.ecsv").read_bytes()
    if not same:
        sys.exit("the two paths wrote different bytes")
    fast_s, astropy_s = min(times[True]), min(times[False])
    print(f"read + write {args.rows} rows in a fresh process: fast {fast_s:.3f} s, astropy {astropy_s:.3f} s (same bytes)")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "fast_s": round(fast_s, 3),
                "astropy_s": round(astropy_s, 3),
                "ratio": round(astropy_s / fast_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
