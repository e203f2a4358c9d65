"""Rules of ``workflow/rules/reduce.smk``: shards of observed spectra → rest-frame, resampled,
normalised shards (:func:`reduce_shard`) → one cube (:func:`merge_cube`) → a look at it (:func:`plot_sample`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agn_saliency.core.columns import TABLES
from agn_saliency.core.redact import redact_values
from agn_saliency.stages._common import apply_read_limits, draws_figures, rule_log

__all__ = ["merge_cube", "plot_sample", "reduce_shard"]


def reduce_shard(
    *, inventory: str, shard_out: str, rejected_out: str, shard: int, reduce: dict[str, Any], limits: dict[str, Any] | None = None
) -> Any:
    """Rule reduce_shard: reduce one inventory shard onto the rest-frame grid (the AGN gate when
    ``reduce.agn_gate``), each file read within ``limits``; write the shard and its rejected list.
    Returns the ``reduce.ShardResult``."""
    from agn_saliency.io.cube import write_shard
    from agn_saliency.io.tables import read_table, write_table
    from agn_saliency.spectra.reduce import REJECTED_COLUMNS, ReductionParameters, reduce_inventory

    log = rule_log("reduce_shard")
    apply_read_limits(limits)
    params = ReductionParameters.from_mapping(reduce)
    if params.agn_gate:
        from agn_saliency.spectra.gate import not_agn_reason
    result = reduce_inventory(read_table(inventory), params, gate=not_agn_reason if params.agn_gate else None)
    write_shard(shard_out, params.wavelength(), result.flux, result.ivar, result.mask, result.meta, params.norm_window)
    write_table(rejected_out, result.rejected, REJECTED_COLUMNS, schema=TABLES["rejected"])
    log.info("shard %03d (%s): %d reduced, %d rejected", shard, inventory, len(result.flux), len(result.rejected))
    for record in result.rejected:  # each in the log file; the terminal gets one line
        log.info("rejected %s (%s): %s", record["specid"], record["source_file"], record["reason"])
    if result.rejected:
        log.warning("shard %03d: %d spectra rejected, reasons in %s", shard, len(result.rejected), rejected_out)
    return result


def merge_cube(
    *, shards: list[str], rejected: list[str], cube_out: str, rejected_out: str, spectra_out: str, config: dict[str, Any]
) -> dict[str, int]:
    """Rule merge_cube: shards → one cube, its per-spectrum table, and one rejected list sorted by
    catalog row (duplicate ids included). Returns the counts ``{"duplicates": …, "rejected": …}``.

    The cube records where its spectra came from and how they were reduced (``config``'s ``data``
    and ``reduce`` sections and the seed) and the package versions as attributes — read from the
    config deliberately, not as params: as a param every key of those sections (download timeouts
    included) would rerun the merge and everything after it. What shapes the cube reaches it through
    the shards, whose rules have those values as params.
    """
    from agn_saliency.io.cube import merge_shards, package_versions, write_spectra_table
    from agn_saliency.io.tables import read_table, write_table
    from agn_saliency.spectra.reduce import REJECTED_COLUMNS, check_not_empty, reason_key

    log = rule_log("merge_cube")
    try:
        check_not_empty(shards, rejected)
    except ValueError as error:
        log.error("%s", error)
        raise
    # Credentials in URLs (data.sdss.base_url's user:password@) redacted: the cube is shared, a login is not.
    provenance = redact_values({"data": config["data"], "reduce": config["reduce"], "seed": config["seed"]})
    duplicates = merge_shards(shards, cube_out, {"config": provenance, "versions": package_versions()})
    write_spectra_table(cube_out, spectra_out)
    rows = [row for part in rejected for row in read_table(part)] + duplicates
    rows.sort(key=lambda row: int(row["row"]) if str(row["row"]).lstrip("-").isdigit() else 0)
    write_table(rejected_out, rows, REJECTED_COLUMNS, schema=TABLES["rejected"])
    reasons = Counter(reason_key(row["reason"]) for row in rows)
    log.info("cube %s written; %d spectra rejected: %s", cube_out, len(rows), dict(reasons))
    return {"duplicates": len(duplicates), "rejected": len(rows)}


@draws_figures
def plot_sample(*, cube: str, plot_out: str, per_class: int, seed: int) -> str:
    """Rule plot_sample: ``per_class`` reduced spectra of each class (seeded) with the main lines marked."""
    from agn_saliency.io.cube import cube_config, read_cube
    from agn_saliency.plotting import plot_sample_spectra

    spectra = read_cube(cube)
    label = spectra.meta["label"].astype(str)
    # the axis label states the normalisation the cube has (a cube from before norm_statistic: median)
    reduction = cube_config(cube).get("reduce", {})
    window = reduction.get("norm_window")
    plot_sample_spectra(
        spectra.wavelength, spectra.flux, label, spectra.meta["specid"], plot_out, per_class, seed,
        norm_statistic=reduction.get("norm_statistic", "median") if window else None,
        norm_window=tuple(window) if window else None,
    )  # fmt: skip
    return plot_out
