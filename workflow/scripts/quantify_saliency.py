"""Rule quantify_saliency: share of |saliency| inside line windows vs the windows' pixel share."""

import logging

from agn_saliency.explain.maps import line_shares, read_saliency
from agn_saliency.io.tables import write_table

log = logging.getLogger("agn_saliency.quantify_saliency")


def main(*, saliency: str, out: str) -> None:
    rows = line_shares(read_saliency(saliency))
    write_table(out, rows, list(rows[0]))
    for row in rows:
        log.info(
            "%(class)s %(region)s: saliency share %(saliency_share).3f vs pixel share %(pixel_share).3f (×%(enrichment).2f)", row
        )


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(saliency=sm.input.saliency, out=sm.output.shares))
