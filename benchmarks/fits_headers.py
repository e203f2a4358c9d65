"""Why ``io.fits`` memoises whole header cards (``_card``): the headers of the real SDSS files parsed by this tree and by a baseline commit.

Every header of the first four HDUs of the real SDSS files (``../shared/data/sdss_real``: primary,
COADD, SPECOBJ / SPALL with up to 487 cards, SPZLINE) is parsed from bytes already in memory by
this tree's ``fits._parse_header`` and by ``--baseline-commit``'s (``io/fits.py`` loaded from git
into a temporary module: card by card, values memoised), ``--repeat`` times per file, alternating,
three rounds; the fastest of each. The parsed headers must be equal. With ``--fresh`` every
memo of both (``_card``, and this tree's ``_block``) is emptied before each pass over the files:
each file's headers are then parsed as those of distinct files are — a card or block seen in an
earlier file of the pass (the table headers of one kind) is known, the rest is not — instead of
every card and block being known from the pass before (copies of the same files).

Usage::

    python benchmarks/fits_headers.py [--repeat 20] [--baseline-commit eb425a6] [--fresh]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sdss_real"


def header_starts(path: Path) -> tuple[memoryview, list[int]]:
    """A file's bytes and the offsets of its first four headers."""
    from agn_saliency.io import fits

    data = fits.file_content(path)
    starts, position = [], 0
    buffer = memoryview(data)
    for _ in range(4):
        if position >= len(buffer) or (starts and not bytes(buffer[position : position + 8]).startswith(b"XTENSION")):
            break
        starts.append(position)
        header, position = fits.parse_header(buffer, position)
        position += -(-fits._data_size(header) // fits.BLOCK) * fits.BLOCK
    return buffer, starts


def parse_all(
    module: ModuleType, files: list[tuple[memoryview, list[int]]], repeat: int, fresh: bool = False
) -> tuple[float, list]:
    """CPU seconds parsing every header of ``files`` ``repeat`` times with ``module._parse_header``
    (with ``fresh``, its memos emptied before each pass, not timed), and the headers."""
    headers: list = []
    spent = 0.0
    for _ in range(repeat):
        if fresh:
            for memo in ("_card", "_block"):
                getattr(getattr(module, memo, None), "cache_clear", lambda: None)()
        start = time.process_time()
        headers = [module._parse_header(buffer, offset)[0] for buffer, starts in files for offset in starts]
        spent += time.process_time() - start
    return spent, headers


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline-commit", default="eb425a6", help="commit whose io/fits.py is the baseline")
    parser.add_argument("--fresh", action="store_true", help="memos emptied before each pass (distinct files)")
    args = parser.parse_args(argv)
    from common import alternate, module_at

    from agn_saliency.io import fits

    baseline = module_at(args.baseline_commit, "src/agn_saliency/io/fits.py", "def _parse_header")

    paths = sorted(p for p in REAL.resolve().iterdir() if p.suffix in (".fits", ".fit"))
    files = [header_starts(path) for path in paths]
    n_headers = sum(len(starts) for _, starts in files)
    per_file, parsed = alternate(
        {
            name: partial(parse_all, module, files, args.repeat, args.fresh)
            for name, module in (("baseline", baseline), ("current", fits))
        },
        len(files) * args.repeat,
    )
    result = {
        "benchmark": "fits_headers",
        "n_files": len(files),
        "n_headers": n_headers,
        "baseline_commit": args.baseline_commit,
        "fresh_memos_each_pass": args.fresh,
        "ms_per_file_fastest": {name: round(value, 3) for name, value in per_file.items()},
        "speedup": round(per_file["baseline"] / per_file["current"], 2),
        "same_headers": parsed["baseline"] == parsed["current"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
