"""Why the predict merge writes its maps with ``write_direct_chunk``: the merge's map copy, both ways.

The merge (``predict.shards.merge_shard_files``) copies each shard's spectra, 256 at a time, to
their rows of ``saliency.h5`` (chunked one spectrum per chunk); the files of a shard are spread
over the whole folder, so each block's rows are scattered. This times ``SaliencyWriter.put`` on N
synthetic spectra (three classes, ``--pixels`` pixels, two attribution methods besides the gradient,
as the default methods store them) dealt to ``--shards`` shards by a seeded permutation, with
``direct_chunks=True`` (the default: ``write_row_chunks``) against ``direct_chunks=False`` (h5py's
indexed assignment for every dataset), alternating, fastest of ``--repeats``; it fails unless both
files hold the same bytes.

    python benchmarks/merge_maps.py [--n 10000] [--shards 16] [--pixels 1000] [--repeats 3]

The last line printed is one JSON object: {"n": …, "direct_s": …, "indexed_s": …, "ratio": …}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from agn_saliency.explain.maps import SaliencyResult  # noqa: E402
from agn_saliency.predict.shards import SaliencyWriter, _take  # noqa: E402

BLOCK = 256  # merge_shard_files' default block


def synthetic(n: int, pixels: int, seed: int) -> SaliencyResult:
    """``n`` spectra's rows and maps, random but fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    classes = ["type1", "type2", "intermediate"]
    maps = rng.normal(size=(n, len(classes), pixels)).astype(np.float32)
    probabilities = rng.dirichlet(np.ones(len(classes)), size=n)
    names = np.array([f"spec-{i:06d}" for i in range(n)], dtype=object)
    return SaliencyResult(
        specid=names, true_label=np.array(["unknown"] * n, dtype=object),
        predicted_label=np.array([classes[k] for k in probabilities.argmax(axis=1)], dtype=object),
        probabilities=probabilities, saliency=maps, flux=rng.normal(size=(n, pixels)).astype(np.float32),
        wavelength=np.linspace(3800.0, 7000.0, pixels), class_names=classes,
        file=np.array([f"/data/{name}.fits" for name in names], dtype=object), key=names,
        attributions={"gradient": maps, "logit_gradient": (2 * maps).astype(np.float32)},
    )  # fmt: skip


def copy(path: Path, result: SaliencyResult, shard_rows: list[np.ndarray], direct: bool) -> float:
    """Seconds to write ``result`` to ``path`` shard by shard, a block at a time, as the merge does."""
    start = time.perf_counter()
    writer = SaliencyWriter(
        path, {"folder": "benchmark"}, n_rows=len(result.specid), chunk_per_spectrum=True, direct_chunks=direct
    )
    for rows in shard_rows:
        for lo in range(0, len(rows), BLOCK):
            block = rows[lo : lo + BLOCK]
            writer.put(block, _take(result, block))
    writer.close(_take(result, np.zeros(0, np.int64)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--pixels", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = synthetic(args.n, args.pixels, args.seed)
    owner = np.random.default_rng(args.seed + 1).integers(0, args.shards, size=args.n)  # a path hash's buckets
    shard_rows = [np.flatnonzero(owner == s) for s in range(args.shards)]
    times: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for direct in (False, True):
                times[direct].append(copy(Path(tmp) / f"saliency-{direct}.h5", result, shard_rows, direct))
        same = (Path(tmp) / "saliency-True.h5").read_bytes() == (Path(tmp) / "saliency-False.h5").read_bytes()
    if not same:
        sys.exit("the two ways wrote different bytes")
    direct_s, indexed_s = min(times[True]), min(times[False])
    megabytes = args.n * 4 * args.pixels * (1 + len(result.class_names) * (1 + len(result.attributions))) / 1e6
    print(
        f"{args.n} spectra from {args.shards} shards ({megabytes:.0f} MB of maps and fluxes): "
        f"write_direct_chunk {direct_s:.2f} s, h5py indexed assignment {indexed_s:.2f} s (same bytes)"
    )
    print(json.dumps({"n": args.n, "shards": args.shards, "pixels": args.pixels, "direct_s": round(direct_s, 3),
                      "indexed_s": round(indexed_s, 3), "ratio": round(indexed_s / direct_s, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
