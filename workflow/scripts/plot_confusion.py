"""Rule plot_confusion: confusion matrix of the selected model on the test set."""

import json

from agn_saliency.plotting.figures import plot_confusion


def main(*, metrics: str, out: str) -> None:
    with open(metrics, encoding="utf-8") as handle:
        m = json.load(handle)
    title = (
        f"{m['task']} — {m['kernel']} kernel, test set (n = {m['n_test']}): "
        f"macro F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f}"
    )
    plot_confusion(m["confusion_matrix"], m["confusion_matrix_normalised"], m["class_names"], out, title)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(metrics=sm.input.metrics, out=sm.output[0]))
