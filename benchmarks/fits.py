"""Why the reduction keeps its own FITS reader: per-file read time of the fast path against astropy.

Data: the real SDSS files (``/work/shared/data/sdss_real`` or ``--real-dir``: DR8+ spec / spec-lite
with SPECOBJ or SPALL, DR7 spSpec), read from the page cache, plain and gzip-compressed (the gzip
copies are made in a temporary folder).

* fast: ``agn_saliency.spectra.sdss.read_spectrum(path)`` — the fast reader, astropy only for the parts it
  hands over (none on these files).
* astropy, used well: ``astropy.io.fits.open(path, memmap=False)``, then only what read_spectrum
  reads: COADD flux/loglam/ivar/and_mask, PLATE/MJD/FIBERID/Z/RUN2D/CLASS/SUBCLASS from HDU 2 (or,
  for spSpec, the primary image and its header cards), converted to native float64 arrays.

* COADD only (DR8+ files): the flux/loglam/ivar columns alone, ``fits.read_hdus(path, max_hdus=2)``
  against astropy — without the 126–236-column HDU 2, whose column definitions alone cost astropy
  ~30 ms per file.

Each file is read ``--repeat`` times (default 30) by each method in alternation; the per-file time
is the median. ``ratio`` is the median over files of astropy time / fast time, from the same run.

    python benchmarks/fits.py [--repeat 30] [--real-dir DIR]

The last line printed is one JSON object:
{"n_files": …, "fast_ms_median": …, "astropy_ms_median": …, "ratio_median": …, "ratio_min": …,
 "coadd_only_ratio_median": …, "gzip_fast_ms_median": …, "gzip_astropy_ms_median": …, "gzip_ratio_median": …}
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from agn_saliency.io import fits as fast_fits  # noqa: E402
from agn_saliency.spectra import sdss  # noqa: E402

DEFAULT_REAL_DIR = Path("/work/shared/data/sdss_real")


def astropy_read(path: Path) -> tuple:
    """What read_spectrum reads, with astropy.io.fits (no memory map: the files are small)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        if len(hdul) > 1 and hdul[1].name == "COADD":
            coadd = hdul[1].data
            arrays = tuple(np.asarray(coadd[name], dtype=np.float64) for name in ("flux", "loglam", "ivar"))
            mask = np.asarray(coadd["and_mask"], dtype=np.int64)
            meta = hdul[2].data
            values = tuple(meta[name][0] for name in ("PLATE", "MJD", "FIBERID", "Z", "RUN2D", "CLASS", "SUBCLASS"))
            return (*arrays, mask, *values)
        image = np.atleast_2d(hdul[0].data).astype(np.float64)
        header = hdul[0].header
        return image, tuple(header[key] for key in ("COEFF0", "COEFF1", "PLATEID", "MJD", "FIBERID", "Z"))


def fast_coadd(path: Path) -> tuple:
    coadd = fast_fits.read_hdus(path, max_hdus=2)[1]
    return tuple(coadd.column(name).astype(np.float64) for name in ("flux", "loglam", "ivar"))


def astropy_coadd(path: Path) -> tuple:
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        coadd = hdul[1].data
        return tuple(np.asarray(coadd[name], dtype=np.float64) for name in ("flux", "loglam", "ivar"))


def per_file_ms(
    paths: list[Path], repeat: int, fast_read=sdss.read_spectrum, slow_read=astropy_read
) -> tuple[list[float], list[float]]:
    fast, slow = [], []
    for path in paths:
        fast_read(path), slow_read(path)  # warm: imports, page cache, caches
        times: dict[str, list[float]] = {"fast": [], "astropy": []}
        for _ in range(repeat):
            for name, function in (("fast", fast_read), ("astropy", slow_read)):
                start = time.perf_counter()
                function(path)
                times[name].append(time.perf_counter() - start)
        fast.append(statistics.median(times["fast"]) * 1e3)
        slow.append(statistics.median(times["astropy"]) * 1e3)
    return fast, slow


def main(repeat: int, real_dir: Path) -> dict:
    paths = sorted(p for p in real_dir.iterdir() if p.name.startswith(("spec-", "spSpec-")))
    if not paths:
        raise SystemExit(f"no SDSS files in {real_dir}")
    fast, slow = per_file_ms(paths, repeat)
    ratios = [s / f for f, s in zip(fast, slow)]
    for path, f, s, r in zip(paths, fast, slow, ratios):
        print(f"{path.name:32s} fast {f:7.3f} ms   astropy {s:7.3f} ms   {r:5.1f}×")
    dr8 = [path for path in paths if path.name.startswith("spec-")]
    coadd_fast, coadd_slow = per_file_ms(dr8, repeat, fast_coadd, astropy_coadd)
    coadd_ratios = [s / f for f, s in zip(coadd_fast, coadd_slow)]
    print(
        f"COADD only ({len(dr8)} DR8+ files): fast median {statistics.median(coadd_fast):.3f} ms, astropy median "
        f"{statistics.median(coadd_slow):.3f} ms, ratio median {statistics.median(coadd_ratios):.1f}×"
    )
    with tempfile.TemporaryDirectory(prefix="bench-fits-") as folder:
        packed = []
        for path in paths:
            target = Path(folder) / (path.name + ".gz")
            target.write_bytes(gzip.compress(path.read_bytes()))
            packed.append(target)
        gz_fast, gz_slow = per_file_ms(packed, max(3, repeat // 3))
    gz_ratios = [s / f for f, s in zip(gz_fast, gz_slow)]
    print(
        f"{len(paths)} files: fast median {statistics.median(fast):.3f} ms, astropy median {statistics.median(slow):.3f} ms, "
        f"ratio median {statistics.median(ratios):.1f}× (min {min(ratios):.1f}×); gzip copies: ratio median "
        f"{statistics.median(gz_ratios):.1f}× ({statistics.median(gz_fast):.2f} vs {statistics.median(gz_slow):.2f} ms)"
    )
    return {
        "n_files": len(paths),
        "repeat": repeat,
        "fast_ms_median": round(statistics.median(fast), 3),
        "astropy_ms_median": round(statistics.median(slow), 3),
        "ratio_median": round(statistics.median(ratios), 2),
        "ratio_min": round(min(ratios), 2),
        "coadd_only_ratio_median": round(statistics.median(coadd_ratios), 2),
        "gzip_fast_ms_median": round(statistics.median(gz_fast), 3),
        "gzip_astropy_ms_median": round(statistics.median(gz_slow), 3),
        "gzip_ratio_median": round(statistics.median(gz_ratios), 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="reads per file and method (default 30)")
    parser.add_argument("--real-dir", type=Path, default=DEFAULT_REAL_DIR, help="folder of real SDSS files")
    args = parser.parse_args()
    print(json.dumps(main(args.repeat, args.real_dir)))
