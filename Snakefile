# agn-saliency: SDSS AGN spectra → HDF5 cube → t-SNE maps → grid-searched SVMs → saliency maps → report.
# Run:  snakemake --cores 8            (default: the embedded, paper-size sample)
#       snakemake --cores 8 --configfile my.yaml   (your overrides on top of config/config.yaml)
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")


report: "workflow/report/workflow.rst"


# Stages in DAG order; each reads only the files of the stage before it.
include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/reduce.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/predict.smk"


rule all:
    """Every final product of the default pipeline."""
    input:
        final_outputs(),
    default_target: True
