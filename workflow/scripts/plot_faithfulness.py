"""Rule plot_faithfulness: deletion and insertion curves of every attribution method against random orders."""

from agn_saliency.io.tables import read_table
from agn_saliency.plotting.figures import plot_faithfulness_curves


def main(*, curves: str, out: str, task: str) -> None:
    plot_faithfulness_curves(read_table(curves), out, f"{task}: do the maps point at pixels the model needs?")


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(curves=sm.input.curves, out=sm.output[0], task=sm.wildcards.task))
