"""How long rejecting a hostile FITS file takes, against reading the real file it was made from.

Each hostile file is a mutated copy of a real SDSS spec-lite file (``--real``, default
../shared/data/sdss_real/spec-0332-52367-0639.fits), as in tests/test_hostile_files.py:

* ``gzip_bomb`` / ``bzip2_bomb``: the real file compressed, followed by compressed members of
  zeros (``--bomb-mb`` MB once decompressed, default 2048: the issue's 2 MB ``.fits.gz``);
* ``negative_naxis``: an IMAGE extension with ``NAXIS1 = -2880`` appended (it used to loop for ever);
* ``many_hdus``: 100,000 empty extensions appended (a 288 MB file);
* ``endless_header``: 100,000 comment blocks (288 MB) where the primary header should end.

Each is checked the way downloads are (``verify_spectrum_file``: every HDU) in a fresh process,
``--repeats`` times alternating with the plain real file; the fastest wall time of each and the
process's own peak RSS (``VmHWM``) are printed. The default limits apply (64 MB, 200 HDUs, 10,000
cards).

    python benchmarks/hostile.py [--bomb-mb 2048] [--repeats 2]

The last line printed is one JSON object: per case, seconds, ratio to the real file, peak RSS MB and
the reason given.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from agn_saliency.io import fits  # noqa: E402

CHILD = """
import sys, time
sys.path.insert(0, {src!r})
from agn_saliency.acquire.download.files import verify_spectrum_file
start = time.perf_counter()
reason = verify_spectrum_file({path!r}, 332, 52367, 639)
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(repr(reason))
print(peak)
print(seconds)
"""


def make_cases(real: Path, folder: Path, bomb_mb: int) -> dict[str, Path]:
    data = real.read_bytes()
    zeros = bytes(16 * 2**20)
    cases = {"real_file": folder / real.name}
    cases["real_file"].write_bytes(data)
    cases["gzip_bomb"] = folder / "gzip_bomb.fits.gz"
    cases["gzip_bomb"].write_bytes(gzip.compress(data) + gzip.compress(zeros, 9) * (bomb_mb // 16))
    cases["bzip2_bomb"] = folder / "bzip2_bomb.fits.bz2"
    cases["bzip2_bomb"].write_bytes(bz2.compress(data) + bz2.compress(zeros, 9) * (bomb_mb // 16))
    header = fits._header_bytes
    negative = header(
        [
            ("XTENSION", "IMAGE", ""),
            ("BITPIX", 8, ""),
            ("NAXIS", 1, ""),
            ("NAXIS1", -2880, ""),
            ("PCOUNT", 0, ""),
            ("GCOUNT", 1, ""),
        ]
    )
    cases["negative_naxis"] = folder / "negative_naxis.fits"
    cases["negative_naxis"].write_bytes(data + negative)
    empty = header([("XTENSION", "IMAGE", ""), ("BITPIX", 8, ""), ("NAXIS", 0, ""), ("PCOUNT", 0, ""), ("GCOUNT", 1, "")])
    cases["many_hdus"] = folder / "many_hdus.fits"
    cases["many_hdus"].write_bytes(data + empty * 100_000)
    comments = ("COMMENT " + " " * 72).encode("ascii") * 36
    cases["endless_header"] = folder / "endless_header.fits"
    cases["endless_header"].write_bytes(data[: 2 * fits.BLOCK] + comments * 100_000 + data[2 * fits.BLOCK :])
    return cases


def check(path: Path) -> tuple[float, float, str, float]:
    """Wall seconds of the whole process, its peak RSS, the reason, and the seconds the check itself
    took inside the process (without interpreter start and imports)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(src=str(ROOT / "src"), path=str(path))], capture_output=True, text=True, timeout=600
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    reason, peak, inside = done.stdout.strip().splitlines()[-3:]
    return seconds, float(peak), reason, float(inside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared/data/sdss_real/spec-0332-52367-0639.fits")
    parser.add_argument("--bomb-mb", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as work:
        cases = make_cases(args.real, Path(work), args.bomb_mb)
        best: dict[str, tuple[float, float, str, float]] = {}
        for _ in range(args.repeats):
            for name, path in cases.items():
                result = check(path)
                if name not in best or result[0] < best[name][0]:
                    best[name] = result
        base = best["real_file"][0]
        report = {}
        for name, (seconds, peak, reason, inside) in best.items():
            size = cases[name].stat().st_size
            print(
                f"{name:>15}: {seconds:.2f} s ({seconds / base:.2f}x the real file; check alone {inside:.3f} s), "
                f"peak RSS {peak:.0f} MB, {size / 2**20:.1f} MB file: {reason}"
            )
            report[name] = {
                "s": round(seconds, 3),
                "check_s": round(inside, 3),
                "ratio": round(seconds / base, 2),
                "peak_rss_mb": round(peak),
                "reason": reason,
            }
        print(json.dumps(report))


if __name__ == "__main__":
    main()
