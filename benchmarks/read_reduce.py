"""Predict's reading and reduction alone: CPU ms a file from a path to its reduced spectrum and gate inputs.

What a predict shard job does for each file before the gate (:func:`agn_saliency.predict.batch.classify_files`'s
first part): the file's inventory row (``_InventoryAsRead``), one read (``_ReadOnce``: the spectrum,
SPZLINE, the SHA-256 of the bytes) and the reduction (:func:`agn_saliency.spectra.reduce.reduce_inventory`
with the default :class:`~agn_saliency.spectra.reduce.ReductionParameters`), the gate's inputs
collected, not fitted. Each pass runs over every spectrum file below ``FOLDER``; the fastest of
``--repeats`` passes counts (the first pays numba's cache load). A digest of everything made (reduced
arrays, metadata, rejections, inventory rows, file digests, gate inputs) is printed so that two
trees can be compared: run it with another checkout's ``src`` first on ``PYTHONPATH``, alternating.

Usage::

    python benchmarks/read_reduce.py FOLDER [--repeats 3]
    PYTHONPATH=<other checkout>/src python benchmarks/read_reduce.py FOLDER [--repeats 3]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from typing import Any

from agn_saliency.acquire.inventory import folder_scan
from agn_saliency.predict import batch
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory


def _digest(reduced: Any, inventory: Any, digests: dict[str, Any], gate_inputs: list[tuple[Any, ...]]) -> str:
    """SHA-256 (first 16 hex digits) of everything one pass made."""
    digest = hashlib.sha256()
    for array in (reduced.flux, reduced.ivar, reduced.mask):
        digest.update(array.tobytes())
    digest.update(json.dumps({key: [str(value) for value in values] for key, values in reduced.meta.items()}).encode())
    digest.update(json.dumps(reduced.rejected, default=str).encode())
    digest.update(json.dumps(list(inventory), default=str).encode())
    digest.update(json.dumps(digests).encode())
    for path, specid, z, spzline in gate_inputs:
        digest.update(repr((path, specid, z)).encode())
        for name, values in (spzline or {}).items():
            digest.update(name.encode() + repr(values.tolist()).encode())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = dataclasses.replace(ReductionParameters(), agn_gate=False)
    scan = folder_scan(args.folder)
    best = float("inf")
    for _ in range(args.repeats):
        inventory = batch._InventoryAsRead(args.folder, scan, None)
        reader = batch._ReadOnce()
        gate_inputs: list[tuple[Any, ...]] = []

        def gate(spectrum: Any, z: float, path: Any, reader: Any = reader, inputs: list[Any] = gate_inputs) -> None:
            inputs.append((str(path), spectrum.specid, z, reader.spzline.get(str(path))))

        start = time.process_time()
        reduced = reduce_inventory(inventory, params, gate=gate, reader=reader)
        digests = {str(row["path"]): reader.digests.get(str(row["path"])) for row in inventory}
        best = min(best, time.process_time() - start)
    n = len(inventory)
    result = {
        "files": n,
        "reduced": len(reduced.flux),
        "best_cpu_s": round(best, 3),
        "ms_per_file": round(1000 * best / max(n, 1), 4),
        "digest": _digest(reduced, inventory, digests, gate_inputs),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
