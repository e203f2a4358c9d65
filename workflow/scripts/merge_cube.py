"""Rule merge_cube: merge reduced shards into one HDF5 cube and one rejected.ecsv."""

import logging
from collections import Counter
from pathlib import Path

import h5py

from agn_saliency.cube import merge_shards, package_versions, write_spectra_table
from agn_saliency.files import read_table, write_table
from agn_saliency.reduce import REJECTED_COLUMNS

log = logging.getLogger("agn_saliency.merge_cube")


# How the inventory statuses read in a rejection count (any other reason is shown as it is).
REASON_NAMES = {"missing": "missing file", "failed": "failed download"}


def check_not_empty(shards: list[str], rejected_parts: list[str], n_reasons: int = 3) -> None:
    """Stop before writing a cube when no shard holds a spectrum, with the top rejection reasons.

    Raises
    ------
    ValueError
        "no spectrum could be reduced: 12 rejected — failed download: 12 (e.g. …)"; the per-shard
        lists name every spectrum with its reason.
    """
    n_reduced = 0
    for path in shards:
        with h5py.File(path, "r") as handle:
            n_reduced += handle["flux"].shape[0]
    if n_reduced:
        return
    rejected = [row for part in rejected_parts for row in read_table(part)]
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for row in rejected:
        reason = str(row["reason"])
        key = reason.split(" (")[0].split(":")[0]
        counts[key] += 1
        examples.setdefault(key, reason)
    shown = ", ".join(
        f"{REASON_NAMES.get(key, key)}: {count} (e.g. {examples[key]!r})" for key, count in counts.most_common(n_reasons)
    )
    if len(counts) > n_reasons:
        shown += f", {len(counts) - n_reasons} other reason(s)"
    where = Path(rejected_parts[0]).parent / "rejected-*.ecsv" if rejected_parts else "the reduction logs"
    message = (
        f"no spectrum could be reduced: {len(rejected)} rejected — {shown or 'no input spectra'}; "
        f"each is listed with its reason in {where}"
    )
    log.error("%s", message)
    raise ValueError(message)


def main(
    shards: list[str], rejected_parts: list[str], cube_out: str, rejected_out: str, spectra_out: str, provenance: dict
) -> None:
    check_not_empty(shards, rejected_parts)
    duplicates = merge_shards(shards, cube_out, {"config": provenance, "versions": package_versions()})
    write_spectra_table(cube_out, spectra_out)
    rejected = [row for part in rejected_parts for row in read_table(part)] + duplicates
    rejected.sort(key=lambda row: int(row["row"]) if str(row["row"]).lstrip("-").isdigit() else 0)
    write_table(rejected_out, rejected, REJECTED_COLUMNS)
    reasons = Counter(str(row["reason"]).split(" (")[0].split(":")[0] for row in rejected)
    log.info("cube %s written; %d spectra rejected: %s", cube_out, len(rejected), dict(reasons))


def provenance(config: dict) -> dict:
    """The sections of the run's config that say where the spectra came from and how they were reduced.

    Recorded in the cube as metadata, deliberately NOT a `params:` value: as a param, every key of
    these sections (download timeouts included) would rerun the merge and everything after it.
    What shapes the cube reaches it through the shards, whose rules have those values as params.
    """
    return {"data": config["data"], "reduce": config["reduce"], "seed": config["seed"]}


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        list(snakemake.input.shards),
        list(snakemake.input.rejected),
        snakemake.output.cube,
        snakemake.output.rejected,
        snakemake.output.spectra,
        provenance(snakemake.config),
    )
