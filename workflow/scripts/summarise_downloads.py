"""Rule summarise_downloads: total ok / missing / failed / cached over all download shards."""

import json
import logging

from agn_saliency.download import read_manifest, summarize
from agn_saliency.files import write_text_atomic

log = logging.getLogger("agn_saliency.summarise_downloads")


def main(manifests: list[str], out: str) -> None:
    entries = [entry for path in manifests for entry in read_manifest(path)]
    summary = summarize(entries)
    write_text_atomic(out, json.dumps(summary, indent=1) + "\n")
    log.info("downloads: %s", summary)
    if summary["failed"]:  # only when data.sdss.max_failed_fraction accepted them
        log.warning(
            "%d file(s) failed and were accepted as a partial sample (data.sdss.max_failed_fraction); "
            "they are listed in the manifests and in rejected.ecsv; fetch them later with "
            "--forcerun download_shard",
            summary["failed"],
        )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(list(snakemake.input.manifests), snakemake.output.summary)
