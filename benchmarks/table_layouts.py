"""Why ``io.fits`` memoises each TFORM's decoding (``_column_format``): the column layouts of the real SDSS files' tables.

Every table HDU (COADD, SPECOBJ / SPALL with 126–236 columns, SPZLINE) of the real SDSS files
(``../shared/data/sdss_real``) is parsed (``fits.read_hdus(path, max_hdus=4)``, not timed) and its
column layout made (``HDU.column_names``: dtype, offset and fast-path verdict of every column),
``--repeat`` times per file, with ``_column_format`` memoised (the default) and without (its
undecorated function: the dtypes made again for every column of every file), alternating; the
fastest run of each. The layouts must be equal.

Usage::

    python benchmarks/table_layouts.py [--repeat 20]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sdss_real"


def layouts(paths: list[Path], repeat: int) -> tuple[float, list]:
    """CPU seconds making the table layouts of ``paths`` (``repeat`` times each), and the last layouts."""
    from agn_saliency.io import fits

    spent, last = 0.0, []
    for _ in range(repeat):
        for path in paths:
            fits._last_file = fits._last_parse = None  # a fresh parse: the layouts are made again
            tables = [hdu for hdu in fits.read_hdus(path, max_hdus=4) if hdu.is_table]
            fits._LAYOUTS.clear()  # layouts kept across files (one per kind of table): made again here
            start = time.process_time()
            last = [hdu._table_layout() for hdu in tables]
            spent += time.process_time() - start
    return spent, last


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    from common import alternate

    from agn_saliency.io import fits

    paths = sorted(p for p in REAL.resolve().iterdir() if p.suffix in (".fits", ".fit"))
    memoised = fits._column_format

    def run_with(function) -> Callable[[], tuple[float, list]]:
        def run() -> tuple[float, list]:
            fits._column_format = function
            try:
                return layouts(paths, args.repeat)
            finally:
                fits._column_format = memoised

        return run

    per_file, results = alternate(
        {"not_memoised": run_with(memoised.__wrapped__), "memoised": run_with(memoised)}, len(paths) * args.repeat
    )
    result = {
        "benchmark": "table_layouts",
        "n_files": len(paths),
        "ms_per_file_fastest": {name: round(value, 3) for name, value in per_file.items()},
        "speedup": round(per_file["not_memoised"] / per_file["memoised"], 1),
        "same_layouts": results["memoised"] == results["not_memoised"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
