"""Rule plot_line_share: bars of saliency share vs pixel share per region and class."""

from agn_saliency.files import read_table
from agn_saliency.plotting import plot_line_shares


def main(shares: str, out: str, task: str) -> None:
    plot_line_shares(read_table(shares), out, f"Where saliency sits, {task} (test set, predicted-class maps)")


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.shares, snakemake.output[0], snakemake.wildcards.task)
