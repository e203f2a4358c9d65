"""Rule plot_confusion: confusion matrix of the selected model on the test set."""

import json

from agn_saliency.plotting import plot_confusion


def main(metrics_path: str, out: str) -> None:
    metrics = json.loads(open(metrics_path).read())
    title = (
        f"{metrics['task']} — {metrics['kernel']} kernel, test set (n = {metrics['n_test']}): "
        f"macro F1 {metrics['macro_f1']:.3f}, accuracy {metrics['accuracy']:.3f}"
    )
    plot_confusion(metrics["confusion_matrix"], metrics["confusion_matrix_normalised"], metrics["class_names"], out, title)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.metrics, snakemake.output[0])
