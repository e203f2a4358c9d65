"""Rule plot_line_share: bars of saliency share vs pixel share per region and class."""

from agn_saliency.io.tables import read_table
from agn_saliency.plotting.figures import plot_line_shares


def main(*, shares: str, out: str, task: str) -> None:
    plot_line_shares(read_table(shares), out, f"Where saliency sits, {task} (test set, predicted-class maps)")


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(shares=sm.input.shares, out=sm.output[0], task=sm.wildcards.task))
