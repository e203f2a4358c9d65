"""Rule plot_agn_gate: the AGN gate's BPT diagram of a predicted folder."""

from agn_saliency.io.tables import read_table
from agn_saliency.plotting.figures import plot_gate_diagram


def main(*, predictions: str, out: str, name: str) -> None:
    plot_gate_diagram(read_table(predictions), out, f"AGN gate of {name}")


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(
        main,
        globals().get("snakemake"),
        lambda sm: dict(predictions=sm.input.predictions, out=sm.output[0], name=sm.wildcards.name),
    )
