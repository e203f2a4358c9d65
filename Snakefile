# agn-saliency: SDSS AGN spectra → HDF5 cube → t-SNE maps → grid-searched SVMs → saliency maps → report.
# Run:  snakemake --cores 8            (default: the embedded, paper-size sample)
#       snakemake --cores 8 --configfile my.yaml   (your overrides on top of config/config.yaml)
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from agn_saliency.settings import check_config, schema_errors

min_version("9.0")


configfile: Path(workflow.basedir) / "config" / "config.yaml"


# Every error knowable before a job runs stops here, one line each, naming the key.
CONFIG_SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
if problems := schema_errors(config, yaml.safe_load(CONFIG_SCHEMA.read_text())):
    raise WorkflowError("Error validating config:\n  " + "\n  ".join(problems))
validate(config, CONFIG_SCHEMA)  # fills the schema's defaults
if problems := check_config(config):
    raise WorkflowError("Invalid configuration:\n  " + "\n  ".join(problems))


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


# Every final product of the default pipeline (and every file they are made from, see common.smk).
rule all:
    default_target: True
    input:
        final_outputs(),
