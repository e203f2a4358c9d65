"""What a folder fingerprint that sees in-place rewrites costs, on many files.

``inventory.folder_fingerprint`` hashes each FITS file's relative path, size and content (SHA-256);
with its cache (what the workflow uses), a file whose size, mtime, ctime and inode are unchanged is
not read again. This script writes ``--files`` files of ``--size`` bytes in a temporary folder
(a real spec-lite is 172,800 bytes; 100,000 of those are 17 GB, so the default is smaller and the
per-byte cost of a cold run scales with the size) and times, alternating, fastest of ``--repeats``:

* ``baseline``: the hash it replaced (relative path, size, mtime: one ``stat`` per file), copied here
  from main d2c4435 (``inventory.folder_fingerprint``);
* ``warm``: the content fingerprint with its cache filled and nothing changed (every rerun's cost);
* ``cold``: the content fingerprint without a cache (reads every file; the first run on a folder,
  or after ``.snakemake/`` is deleted). The files were just written, so they are in the page cache:
  a folder read from disk costs more.

    python benchmarks/fingerprint.py [--files 100000] [--size 2880] [--repeats 3] [--keep DIR]

The last line printed is one JSON object with the seconds and the ratios warm/baseline and cold/baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from agn_saliency.acquire.inventory import fits_suffix, folder_fingerprint  # noqa: E402


def size_mtime_fingerprint(folder: Path) -> str:
    """The fingerprint before issue 22: relative paths, sizes and mtimes of the visible FITS files."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if fits_suffix(p.name) and not p.name.startswith(".") and p.is_file())
    for path in files:
        status = path.stat()
        digest.update(
            f"{path.relative_to(root).as_posix()}\t{status.st_size}\t{status.st_mtime_ns}\n".encode("utf-8", "surrogateescape")
        )
    return f"sha256:{digest.hexdigest()}"


def write_files(folder: Path, n: int, size: int) -> None:
    """``n`` distinct files of ``size`` bytes in 100 sub-folders (as a survey's plate folders are)."""
    block = os.urandom(size)
    for i in range(n):
        sub = folder / f"{i % 100:04d}"
        if i < 100:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"spec-{i:07d}.fits").write_bytes(i.to_bytes(8, "little") + block[8:])


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=2880)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse (or create) the files in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fingerprint-bench-"))
    folder = work / "spectra"
    try:
        if not folder.is_dir():
            start = time.perf_counter()
            write_files(folder, args.files, args.size)
            print(f"wrote {args.files} files of {args.size} bytes in {time.perf_counter() - start:.1f} s")
        cache = work / "cache.json"
        folder_fingerprint(folder, cache=cache)  # fill the cache
        times: dict[str, list[float]] = {"baseline": [], "warm": [], "cold": []}
        for _ in range(args.repeats):
            times["baseline"].append(timed(size_mtime_fingerprint, folder))
            times["warm"].append(timed(folder_fingerprint, folder, cache=cache))
            times["cold"].append(timed(folder_fingerprint, folder))
        best = {name: min(values) for name, values in times.items()}
        for name, seconds in best.items():
            print(f"{name:>8}: {seconds:.2f} s ({seconds / args.files * 1e6:.1f} µs per file)")
        print(
            json.dumps(
                {
                    "files": args.files,
                    "file_bytes": args.size,
                    "baseline_s": round(best["baseline"], 3),
                    "warm_s": round(best["warm"], 3),
                    "cold_s": round(best["cold"], 3),
                    "warm_ratio": round(best["warm"] / best["baseline"], 2),
                    "cold_ratio": round(best["cold"] / best["baseline"], 2),
                }
            )
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
