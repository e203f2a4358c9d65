# agn-saliency: SDSS AGN spectra → HDF5 cube → t-SNE maps → grid-searched SVMs → saliency maps → report.
# Run:  snakemake --cores 8            (default: the embedded, paper-size sample)
#       snakemake --cores 8 --configfile my.yaml   (your overrides on top of config/config.yaml)
# Or from another workflow, as a module (`module agn: snakefile: ..., config: config` and
# `use rule * from agn`): every file of this workflow is found next to this Snakefile, every
# result is written in the including workflow's working directory.
import tomllib
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


# This workflow's own files are named relative to this Snakefile with workflow.source_path, not
# from workflow.basedir (the including workflow's folder when this one is a module); source_path
# also works for a module taken from a remote repository (Snakemake caches the file).
#
# The rules' scripts and the checks below come from the agn_saliency library, which must be the
# one this workflow was released with: installed where snakemake runs (pip install agn-saliency)
# and, with --sdm conda, in envs/*.yaml.
VERSION = tomllib.loads(Path(workflow.source_path("pyproject.toml")).read_text())["project"]["version"]
try:
    import agn_saliency
except ImportError:
    raise WorkflowError(
        f"the agn_saliency library is not installed: `pip install agn-saliency=={VERSION}` "
        "in the environment snakemake runs from (or `pip install <checkout>`)"
    ) from None
if agn_saliency.__version__ != VERSION:
    raise WorkflowError(
        f"agn_saliency {agn_saliency.__version__} is installed ({Path(agn_saliency.__file__).parent}), "
        f"this workflow is {VERSION}: `pip install agn-saliency=={VERSION}`"
    )

from agn_saliency.settings import check_config, coerce_config, schema_errors


# A module user's `config: config` replaces this file (Snakemake skips the directive then).
configfile: workflow.source_path("config/config.yaml")


# Every error knowable before a job runs stops here, one line each, naming the key.
# Numbers and booleans nested in --config arrive as text; the schema's types read them back first.
CONFIG_SCHEMA = Path(workflow.source_path("workflow/schemas/config.schema.yaml"))
coerce_config(config, yaml.safe_load(CONFIG_SCHEMA.read_text()))
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


# Each rule's params also become a file it reads (common.smk): the rerun contract holds on file dates.
track_settings()


# Every final product of the default pipeline (and every file they are made from, see common.smk).
rule all:
    default_target: True
    input:
        final_outputs(),
