"""Rule plot_agn_gate: the AGN gate's BPT diagram of a predicted folder."""

from agn_saliency.files import read_table
from agn_saliency.plotting import plot_gate_diagram


def main(*, predictions: str, out: str, name: str) -> None:
    plot_gate_diagram(read_table(predictions), out, f"AGN gate of {name}")


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(predictions=snakemake.input.predictions, out=snakemake.output[0], name=snakemake.wildcards.name)
