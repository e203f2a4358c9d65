"""Rule merge_cube: merge reduced shards into one HDF5 cube and one rejected.tsv."""

import logging
from collections import Counter

from agn_saliency.cube import merge_shards, package_versions
from agn_saliency.files import read_tsv, write_tsv
from agn_saliency.reduce import REJECTED_COLUMNS

log = logging.getLogger("agn_saliency.merge_cube")


def main(shards: list[str], rejected_parts: list[str], cube_out: str, rejected_out: str, provenance: dict) -> None:
    duplicates = merge_shards(shards, cube_out, {"config": provenance, "versions": package_versions()})
    rejected = [row for part in rejected_parts for row in read_tsv(part)] + duplicates
    rejected.sort(key=lambda row: int(row["row"]) if str(row["row"]).lstrip("-").isdigit() else 0)
    write_tsv(rejected_out, rejected, REJECTED_COLUMNS)
    reasons = Counter(str(row["reason"]).split(" (")[0].split(":")[0] for row in rejected)
    log.info("cube %s written; %d spectra rejected: %s", cube_out, len(rejected), dict(reasons))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(list(snakemake.input.shards), list(snakemake.input.rejected), snakemake.output.cube,
         snakemake.output.rejected, dict(snakemake.params.provenance))
