"""The HDF5 cube of reduced spectra: per-shard files and their bounded-memory merge.

Layout (shards and the final cube alike); every dataset carries ``unit`` (a string
``astropy.units.Unit`` parses; ``""`` = dimensionless) and ``description`` attributes::

    wavelength    (P,)    float64  rest-frame vacuum wavelength [Angstrom]; attrs frame, medium
    flux          (N, P)  float32  flux / norm_flux (1 = mean, or median per reduce.norm_statistic, in the normalisation window);
                                   attrs norm_window (Å, rest frame)
    ivar          (N, P)  float32  inverse variance of flux (0 where masked)
    mask          (N, P)  uint8    1 where masked (bad pixel or not covered) and bridged by interpolation
    meta/<column> (N,)             survey, specid, plate, mjd, fiberid, desi_survey, program, healpix, z, z_source (catalog | file), z_err, zwarning, label,
                                   sdss_class, sdss_subclass (the SDSS pipeline's), norm_flux
                                   [1e-17 erg / (s cm2 Angstrom)], source_file, file_row, row

``survey`` and ``specid`` identify a spectrum (:mod:`agn_saliency.core.identity`); a cube written
before surveys were recorded has no ``meta/survey``: it is read as ``sdss`` (its spectra were) and
its missing DESI columns as empty / -1, so a cube of an earlier run still trains and predicts.

The physical flux density of spectrum i is ``flux[i] * meta/norm_flux[i]`` in the unit of
``norm_flux``. Attributes of the root group carry provenance: ``config`` (JSON of the run's
settings) and ``versions`` (JSON of package versions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import h5py
import numpy as np

from agn_saliency.core.columns import TABLES
from agn_saliency.core.files import atomic_output
from agn_saliency.io.tables import write_table

CHUNK_ROWS = 256
STRING = h5py.string_dtype("utf-8")

DATASET_ATTRS: dict[str, dict[str, str]] = {
    "wavelength": {
        "unit": "Angstrom",
        "frame": "rest",
        "medium": "vacuum",
        "description": "pixel centres of the common rest-frame grid (observed wavelength / (1 + z))",
    },
    "flux": {
        "unit": "",
        "description": "flux density / norm_flux (1 = mean, or median per reduce.norm_statistic, in the normalisation window); "
        "physical flux density = flux * meta/norm_flux",
    },
    "ivar": {"unit": "", "description": "inverse variance of flux (normalised units); 0 where masked"},
    "mask": {
        "unit": "",
        "description": "1 = pixel masked (SDSS and_mask bits, ivar = 0, non-finite or not covered) "
        "and bridged by linear interpolation; 0 = good",
    },
    **{  # the same words as spectra.ecsv's columns (agn_saliency.core.columns)
        f"meta/{column.name}": {"unit": column.unit or "", "description": column.description}
        for column in TABLES["spectra"].columns
    },
}
"""Units and meanings written on every dataset of shards and cubes."""


def describe(handle: h5py.File, norm_window: tuple[float, float] | None = None) -> None:
    """Write :data:`DATASET_ATTRS` (and the normalisation window, Å) on the datasets ``handle`` holds."""
    for name, attrs in DATASET_ATTRS.items():
        if name in handle:
            handle[name].attrs.update(attrs)
    if norm_window is not None:
        handle["flux"].attrs["norm_window"] = np.asarray(norm_window, dtype=np.float64)
        handle["flux"].attrs["norm_window_unit"] = "Angstrom"


def package_versions(
    names: tuple[str, ...] = ("agn-saliency", "numpy", "scipy", "h5py", "scikit-learn", "snakemake"),
) -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _meta_dataset(group: h5py.Group, name: str, values: np.ndarray, maxshape: int | None = None) -> None:
    if values.dtype == object or values.dtype.kind in "US":
        # A list of Python str, not a fixed-width unicode copy (4 bytes × longest path × N).
        group.create_dataset(name, data=[str(v) for v in values], dtype=STRING, maxshape=(maxshape,))
    else:
        group.create_dataset(name, data=values, maxshape=(maxshape,))


def write_shard(
    path: str | os.PathLike[str],
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    meta: dict[str, np.ndarray],
    norm_window: tuple[float, float] | None = None,
) -> None:
    """Write one shard's reduced spectra (atomic), every dataset described (:func:`describe`)."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("wavelength", data=wavelength)
        handle.create_dataset("flux", data=flux)
        handle.create_dataset("ivar", data=ivar)
        handle.create_dataset("mask", data=mask)
        group = handle.create_group("meta")
        for name, values in meta.items():
            _meta_dataset(group, name, values)
        describe(handle, norm_window)


LEGACY_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "survey": ("sdss", object),
    "desi_survey": ("", object),
    "program": ("", object),
    "healpix": (-1, np.int64),
    "file_row": (0, np.int64),
}
"""Value (and dtype) of each identity column a cube written before surveys were recorded lacks."""


def _read_meta(group: h5py.Group, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    meta = {}
    wanted = list(group) if names is None else list(names)
    if names is None and "specid" in group:
        wanted += [name for name in LEGACY_DEFAULTS if name not in group]
    for name in wanted:
        if name not in group and name in LEGACY_DEFAULTS and "specid" in group:
            value, dtype = LEGACY_DEFAULTS[name]  # a cube written before surveys: every spectrum is SDSS
            meta[name] = np.full(len(group["specid"]), value, dtype=dtype)
            continue
        if name not in group:
            raise KeyError(f"{group.file.filename}: no meta/{name} (written by another version? rerun reduce_merge)")
        dataset = group[name]
        values = dataset[()]
        if dataset.dtype.kind == "O":
            values = np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
        meta[name] = values
    return meta


def merge_shards(
    shard_paths: list[str | os.PathLike[str]], out_path: str | os.PathLike[str], provenance: dict[str, Any]
) -> list[dict[str, Any]]:
    """Merge shard files into one chunked, compressed cube; memory bounded by one shard.

    A spectrum whose ``survey`` and ``specid`` already appeared (earlier shard or earlier row) is dropped as a
    duplicate. Returns the rejected records for the duplicates.
    """
    seen: dict[tuple[str, str], str] = {}
    keep_per_shard: list[np.ndarray] = []
    duplicates: list[dict[str, Any]] = []
    wavelength = None
    norm_window = None
    for path in shard_paths:
        with h5py.File(path, "r") as handle:
            if wavelength is None:
                wavelength = handle["wavelength"][()]
                norm_window = handle["flux"].attrs.get("norm_window")
            elif not np.array_equal(wavelength, handle["wavelength"][()]):
                raise ValueError(f"{path}: wavelength grid differs from the first shard's")
            meta = _read_meta(handle["meta"])
        keep = np.ones(len(meta["specid"]), bool)
        for i, (survey, specid) in enumerate(zip(meta["survey"], meta["specid"])):
            spec = (str(survey), str(specid))
            if spec in seen:
                keep[i] = False
                duplicates.append(
                    {
                        "row": int(meta["row"][i]),
                        "survey": spec[0],
                        "specid": spec[1],
                        "source_file": meta["source_file"][i],
                        "label": meta["label"][i],
                        "reason": f"duplicate id (first in catalog row {seen[spec]})",
                    }
                )
            else:
                seen[spec] = str(int(meta["row"][i]))
        keep_per_shard.append(keep)
    if wavelength is None:
        raise ValueError("no shards to merge")
    total = int(sum(k.sum() for k in keep_per_shard))
    n_pixels = len(wavelength)
    chunks = (max(1, min(CHUNK_ROWS, total)), n_pixels)
    compression = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
    with atomic_output(out_path) as tmp, h5py.File(tmp, "w") as out:
        out.create_dataset("wavelength", data=wavelength)
        datasets = {
            name: out.create_dataset(
                name, shape=(total, n_pixels), dtype=dtype, chunks=chunks if total else None, **(compression if total else {})
            )
            for name, dtype in (("flux", np.float32), ("ivar", np.float32), ("mask", np.uint8))
        }
        meta_parts: dict[str, list[np.ndarray]] = {}
        start = 0
        for path, keep in zip(shard_paths, keep_per_shard):
            with h5py.File(path, "r") as handle:
                n = int(keep.sum())
                for name, dataset in datasets.items():
                    dataset[start : start + n] = handle[name][()][keep]
                for name, values in _read_meta(handle["meta"]).items():
                    meta_parts.setdefault(name, []).append(values[keep])
                start += n
        group = out.create_group("meta")
        for name, parts in meta_parts.items():
            _meta_dataset(group, name, np.concatenate(parts) if parts else np.array([]))
        describe(out, None if norm_window is None else tuple(norm_window))
        out.attrs["config"] = json.dumps(provenance.get("config", {}), sort_keys=True)
        out.attrs["versions"] = json.dumps(provenance.get("versions", package_versions()), sort_keys=True)
        out.attrs["n_spectra"] = total
    return duplicates


def write_spectra_table(cube_path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> None:
    """The cube's per-spectrum metadata (``meta/``) as an ECSV table, every column described (``TABLES["spectra"]``)."""
    with h5py.File(cube_path, "r") as handle:
        meta = _read_meta(handle["meta"])
    columns = list(meta)
    rows = [{name: meta[name][i] for name in columns} for i in range(len(meta[columns[0]]) if columns else 0)]
    write_table(out_path, rows, columns, schema=TABLES["spectra"])


@dataclass
class Cube:
    """A cube read into memory."""

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: dict[str, np.ndarray]
    attrs: dict[str, Any]

    def __len__(self) -> int:
        return len(self.flux)

    def select(self, index: np.ndarray) -> Cube:
        """The spectra at ``index`` (boolean mask or integer positions)."""
        return Cube(
            self.wavelength,
            self.flux[index],
            self.ivar[index],
            self.mask[index],
            {k: v[index] for k, v in self.meta.items()},
            self.attrs,
        )


def read_meta(path: str | os.PathLike[str], names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The per-spectrum metadata (``meta/``) of a cube or shard, without its spectra: every column,
    or only ``names`` (text columns as ``str`` objects)."""
    with h5py.File(path, "r") as handle:
        return _read_meta(handle["meta"], names)


def count_spectra(path: str | os.PathLike[str]) -> int:
    """How many spectra a cube or shard holds (rows of ``flux``), without reading them."""
    with h5py.File(path, "r") as handle:
        return int(handle["flux"].shape[0])


def cube_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The configuration a cube records (its ``config`` attribute: ``data``, ``reduce``, ``seed``); empty when absent."""
    with h5py.File(path, "r") as handle:
        text = handle.attrs.get("config")
    return json.loads(text) if text else {}


def read_cube(path: str | os.PathLike[str]) -> Cube:
    """Read a whole cube (or shard) into memory."""
    with h5py.File(path, "r") as handle:
        return Cube(
            wavelength=handle["wavelength"][()],
            flux=handle["flux"][()],
            ivar=handle["ivar"][()],
            mask=handle["mask"][()],
            meta=_read_meta(handle["meta"]),
            attrs=dict(handle.attrs),
        )
