# Input functions, wildcard constraints and paths shared by every rule file.
import functools
import inspect
import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.io import apply_wildcards

from agn_saliency.io.models import MODEL_FORMAT, metadata_path
from agn_saliency.predict.contract import check_model_reduction
from agn_saliency.explain.maps import attribution_options
from agn_saliency.acquire.inventory import (
    FOLDER_LABEL_PATTERN,
    checked_folder,
    folder_digests,
    folder_label,
    label_taken_by,
)
from agn_saliency.settings import check_sample
from agn_saliency.core.redact import redact
from agn_saliency.core.vocabulary import KERNEL_PATTERN, TASK_PATTERN, task_classes
from agn_saliency.core.job_settings import (
    PLANNED_ROOT,
    SETTINGS_INPUT,
    settings_path,
    settings_text,
    write_text_if_changed,
)

# The rules that exist before this workflow's own (an including workflow's, when this one is a module).
EARLIER_RULES = frozenset(each_rule.name for each_rule in workflow.rules)


wildcard_constraints:
    shard=r"\d+",
    task=TASK_PATTERN,
    kernel=KERNEL_PATTERN,
    perplexity=r"\d+(\.\d+)?",


SHARDS = [f"{i:03d}" for i in range(config["data"]["n_shards"])]
SOURCE = config["data"]["source"]
DATA_DIR = config["data"]["dir"]
FIGURE = config["plots"]["format"]  # the suffix of every figure file (plots.format)


@functools.cache
def sample_problems(stage):
    """Problems of the sample for a stage ("classify" or "tsne"), judged once per run."""
    return check_sample(config, stage)


def sample_checked(stage):
    """An input function that adds no file: it stops the DAG before any job runs when the sample
    (known in advance for the embedded sample and an sdss catalog) is too small for ``stage``.
    Only jobs that need the stage evaluate it, so a run asking only for the cube is not stopped."""

    def check(wildcards):
        if problems := sample_problems(stage):
            raise WorkflowError("Invalid configuration:\n  " + "\n  ".join(problems))
        return []

    return check


def inventory_shards():
    """Per-shard inventories written by the acquisition stage, whatever the source."""
    return expand("results/acquire/inventory/shard-{shard}.ecsv", shard=SHARDS)


def perplexity_label(value):
    """Perplexity as it appears in file names (30, 50, 12.5)."""
    return f"{float(value):g}"


def embed_outputs():
    """t-SNE maps: every configured class set × perplexity."""
    return expand(
        f"results/plots/tsne/{{task}}_p{{perplexity}}.{FIGURE}",
        task=config["tsne"]["tasks"],
        perplexity=[perplexity_label(p) for p in config["tsne"]["perplexities"]],
    )


def classify_outputs():
    """Metrics, confusion matrices and grid heat maps of every task (and the optional t-SNE SVM)."""
    tasks, kernels = config["classify"]["tasks"], config["classify"]["kernels"]
    return (
        expand("results/metrics/{task}.json", task=tasks)
        + expand(f"results/plots/confusion/{{task}}.{FIGURE}", task=tasks)
        + expand(f"results/plots/grid/{{task}}_{{kernel}}.{FIGURE}", task=tasks, kernel=kernels)
        + (expand(f"results/plots/tsne_svm/{{task}}.{FIGURE}", task=tasks) if config["classify"]["tsne_svm"] else [])
    )


def explain_outputs():
    """Saliency figures, class means, line shares, robustness and t-SNE highlights of every task."""
    tasks = config["classify"]["tasks"]
    return (
        expand("results/plots/saliency/{task}", task=tasks)
        + expand(f"results/plots/saliency_means/{{task}}.{FIGURE}", task=tasks)
        + expand(f"results/plots/saliency_lines/{{task}}.{FIGURE}", task=tasks)
        + expand(f"results/plots/robustness/{{task}}.{FIGURE}", task=tasks)
        + expand(f"results/plots/faithfulness/{{task}}.{FIGURE}", task=tasks)
        + [f"results/plots/tsne_highlight/{task}.{FIGURE}" for task in tasks if task in config["tsne"]["tasks"]]
    )


def planted_truth(wildcards):
    """The simulator's record of each spectrum's broad lines (embedded sample only; none for real data)."""
    return expand("results/acquire/truth/shard-{shard}.ecsv", shard=SHARDS) if SOURCE == "synthetic" else []


def task_embedding(wildcards):
    """The t-SNE map of the task's class set (the largest configured perplexity), for every job that reads one."""
    perplexity = perplexity_label(max(config["tsne"]["perplexities"]))
    return f"results/tsne/{wildcards.task}_p{perplexity}.h5"


PREDICT_NAME = FOLDER_LABEL_PATTERN  # results/predict/<folder_label(predict_dir)>


def config_folder(key, value, usage):
    """``value`` of config ``key`` as an absolute folder holding FITS files (relative: to the
    working directory); anything else (unset, missing, a file, ``/``, no FITS file) stops the
    DAG with one line naming ``key`` and the reason (and ``usage`` when it is unset). Searched
    by :func:`digests`, so the check costs no search of its own."""
    try:
        return str(checked_folder(value, key, search=lambda path: digests(path).scan))
    except ValueError as error:
        raise WorkflowError(f"{error}: {usage}" if not str(value).strip() else str(error)) from None


def digests(folder):
    """The one search of ``folder`` (absolute) with its files' digests (inventory.folder_digests) of
    this Snakemake invocation: every job's folder check, fingerprint and shard files derive from
    it, so planning costs one search and one digest-cache read per folder, not one per shard job.
    Nothing in the workflow writes predict_dir or data.local_dir except the catalog checkpoint,
    whose manifest's date is part of the key: after it ran, the DAG is planned on a new search."""
    stamp = None
    if catalog := str(config["predict"]["catalog"]).strip():
        manifest = Path(f"results/predict/{folder_label(Path(catalog).with_suffix(''))}/catalog_manifest.ecsv")
        stamp = manifest.stat().st_mtime_ns if manifest.is_file() else None
    return searched_folder(str(folder), stamp)


@functools.cache
def searched_folder(folder, stamp):
    """:func:`digests`' memo (``stamp``: the catalog manifest's date, or None)."""
    return folder_digests(folder, cache=fingerprint_cache(folder))


def catalog_name():
    """``<name>`` of predict.catalog's results (its file name without the suffix), or None without a catalog."""
    catalog = str(config["predict"]["catalog"]).strip()
    if not catalog:
        return None
    if str(config["predict_dir"]).strip():
        raise WorkflowError(
            f"predict.catalog={catalog!r} and predict_dir={config['predict_dir']!r}: set one of them "
            "(a catalog's files are downloaded into data/predict/<its name>/ and predicted from there)"
        )
    return folder_label(Path(catalog).with_suffix(""))


def predict_catalog(wildcards):
    """predict.catalog, checked: the file the ids of fetch_predict_catalog come from."""
    catalog = str(config["predict"]["catalog"]).strip()
    if catalog_name() != wildcards.name:
        raise WorkflowError(f"results/predict/{wildcards.name} is not made from predict.catalog={catalog!r}")
    if not Path(catalog).is_file():
        raise WorkflowError(f"predict.catalog={catalog!r}: no such file")
    return catalog


def checked_predict_dir():
    """predict_dir (or predict.catalog's download folder, data/predict/<catalog name>), absolute and checked (:func:`config_folder`)."""
    if name := catalog_name():
        return config_folder("predict.catalog's downloads", f"{DATA_DIR}/predict/{name}", "")
    return config_folder("predict_dir", config["predict_dir"], "snakemake predict --config predict_dir=/abs/folder")


def predict_name():
    """``<name>`` of predict_dir's results: results/predict/<name>/, the folder's own name. Results
    of another folder of that name (its folder.json says which) are never overwritten: the run
    stops before any job, naming both folders."""
    folder = checked_predict_dir()
    name = catalog_name() or folder_label(str(config["predict_dir"]).strip())  # as given: a symlink's own name
    if other := label_taken_by(f"results/predict/{name}/folder.json", folder):
        raise WorkflowError(
            f"predict_dir={config['predict_dir']!r}: results/predict/{name}/ holds the results of another folder "
            f"of the same name, {other}; predict it under another name (a symlink named differently, "
            f"e.g. ln -s {folder} {name}_2) or move those results away"
        )
    return name


def predict_outputs(wildcards):
    """What the `predict` target asks for: the current predict_dir's predictions and figures (with
    predict.catalog: first its downloads, a checkpoint; the folder's shards are planned once they are there)."""
    fetched = []
    if name := catalog_name():
        fetched = [checkpoints.fetch_predict_catalog.get(name=name).output.manifest]
    name = predict_name()
    return fetched + [
        f"results/predict/{name}/predictions.ecsv",
        f"results/predict/{name}/folder.json",
        f"results/predict/{name}/plots",
        f"results/predict/{name}/agn_gate.{FIGURE}",
        f"results/predict/{name}/summary.{FIGURE}",
    ]


def predict_folder(wildcards):
    """The folder `snakemake predict` classifies (config predict_dir; required), absolute; only
    results/predict/<its name>/ can be made from it."""
    folder = checked_predict_dir()
    if predict_name() != wildcards.name:
        raise WorkflowError(
            f"results/predict/{wildcards.name} is not made from predict_dir={config['predict_dir']!r}, "
            f"whose results are results/predict/{folder_label(folder)}: run `snakemake predict`"
        )
    return folder


def fingerprint_cache(folder):
    """Where a folder's per-file digests are kept between runs (keyed by size, times and inode; lost
    with .snakemake/, then every file is read once more)."""
    return f".snakemake/agn_saliency/fingerprints/{folder_label(folder)}.json"


def predict_fingerprint(wildcards):
    """Fingerprint of predict_dir's FITS files (a params value: any change reruns predict_spectra)."""
    return digests(predict_folder(wildcards)).fingerprint()


def predict_shard_fingerprint(wildcards):
    """Fingerprint of the files of one shard of predict_dir (a params value: a change reruns that shard only)."""
    return digests(predict_folder(wildcards)).fingerprint(shard=(int(wildcards.shard), int(wildcards.n_shards)))


def predict_shard_files(wildcards):
    """The files of one shard of predict_dir, relative to it (a params value: the job reads these
    without searching the folder again; they change only with the shard's fingerprint)."""
    return digests(predict_folder(wildcards)).shard_files(int(wildcards.shard), int(wildcards.n_shards))


def predict_shards(wildcards, kind):
    """The shard files (``jsonl`` rows or ``h5`` maps) the merge of predict_dir reads: predict.n_shards of them."""
    n = int(config["predict"]["n_shards"])
    return [f"results/predict/{wildcards.name}/shards/{n}/{shard}.{kind}" for shard in range(n)]


def predict_shard_rows(wildcards):
    return predict_shards(wildcards, "jsonl")


def predict_shard_saliency(wildcards):
    return predict_shards(wildcards, "h5")


def predict_methods(wildcards):
    """predict.methods with their options from explain (integrated_gradients, smoothgrad + the seed)."""
    return attribution_options({**config["explain"], "methods": config["predict"]["methods"]}, config["seed"])


def local_folder(wildcards):
    """data.local_dir (source `local`), absolute, checked like predict_dir."""
    return config_folder("data.local_dir", config["data"]["local_dir"], "--config 'data={source: local, local_dir: /abs/folder}'")


def local_fingerprint(wildcards):
    """Fingerprint of data.local_dir's FITS files (a params value: any change reruns scan_local)."""
    return digests(local_folder(wildcards)).fingerprint()


def predict_model(wildcards):
    """The model `snakemake predict` uses: predict.model, else the default run's multiclass model.
    A predict.model whose recorded reduction differs from config's reduce stops the DAG here (the
    job checks again; the default model is remade whenever reduce changes)."""
    model = config["predict"]["model"]
    if not model:
        return "results/models/multiclass.joblib"
    recorded = metadata_path(model)
    try:
        metadata = json.loads(recorded.read_text()) if recorded.is_file() else {}
        check_model_reduction(metadata, config["reduce"], model)
    except (ValueError, OSError) as error:
        raise WorkflowError(f"predict.model: {error}") from None
    return model


def every_output(rule, **wildcards):
    """Every output file of ``rule`` (a ``rules.<name>`` object) for the wildcard values given."""
    return expand(list(rule.output), **wildcards)


def intermediate_outputs():
    """Every file the default DAG writes between acquisition and the figures.

    `rule all` asks for them too, because Snakemake by design does not rerun a job whose output
    is missing while every job that reads it is up to date (snakemake/snakemake#1978): a model
    deleted by an interrupted run would otherwise stay missing behind "Nothing to be done".
    """
    tasks, kernels = config["classify"]["tasks"], config["classify"]["kernels"]
    perplexities = [perplexity_label(p) for p in config["tsne"]["perplexities"]]
    acquired = {
        "synthetic": lambda: every_output(rules.simulate_catalog) + every_output(rules.simulate_shard, shard=SHARDS),
        "sdss": lambda: every_output(rules.validate_catalog)
        + every_output(rules.download_shard, shard=SHARDS)
        + every_output(rules.summarise_downloads),
        "local": lambda: every_output(rules.scan_local),
    }[SOURCE]()
    return (
        acquired
        + every_output(rules.reduce_shard, shard=SHARDS)
        + every_output(rules.merge_cube)
        + every_output(rules.split_sample)
        + every_output(rules.embed_tsne, task=config["tsne"]["tasks"], perplexity=perplexities)
        + every_output(rules.search_grid, task=tasks, kernel=kernels)
        + every_output(rules.select_model, task=tasks)
        + every_output(rules.compute_saliency, task=tasks)
        + every_output(rules.select_explained, task=tasks)
        + every_output(rules.quantify_saliency, task=tasks)
        + every_output(rules.measure_robustness, task=tasks)
        + every_output(rules.evaluate_faithfulness, task=tasks)
        + (every_output(rules.fit_tsne_svm, task=tasks) if config["classify"]["tsne_svm"] else [])
    )


def final_outputs():
    """What the default target asks for: every figure, stage by stage, and every file they are made from."""
    return (
        [f"results/plots/sample_spectra.{FIGURE}"]
        + embed_outputs()
        + classify_outputs()
        + explain_outputs()
        + intermediate_outputs()
    )


# Config provenance on file dates (docs/running.md, "Settings files"). Snakemake reruns a job whose
# params changed only while .snakemake/metadata remembers them; so every job of a rule with params
# also reads results/settings/<rule>/<wildcard>=<value>/.../params.json, its params as text, written
# while the DAG is built and only when the text changes: a job older than its settings file reruns.


def executing():
    """True when this Snakemake invocation runs (or touches) jobs; False for a dry run, --summary, --dag…"""
    return workflow.executor_plugin is not None and not workflow.dryrun


def job_params(workflow_rule, wildcards):
    """``workflow_rule``'s params for the job with ``wildcards``, as the job receives them."""
    values = {}
    for name, value in workflow_rule.params.items():
        if callable(value):
            derived = set(inspect.signature(value).parameters) & {"input", "output", "threads", "resources"}
            if derived:
                raise WorkflowError(
                    f"{workflow_rule.name}'s params {name} derives from {', '.join(sorted(derived))}; "
                    "a settings file records values of the config and the wildcards only"
                )
            value = value(wildcards)
        elif isinstance(value, str):
            value = apply_wildcards(value, wildcards)
        values[name] = value
    return values


def job_settings(workflow_rule):
    """An input function giving the settings file of ``workflow_rule``'s job: rewritten only when changed, so
    its date is when the job's settings last changed. A dry run never writes in results/: a job
    whose settings changed reads a fresh copy under .snakemake/planned-settings/ instead, new to
    the dry run as a rewritten file would be to a real run."""

    def on_disk(path):
        """Where Snakemake will look for ``path`` (a module's input modifier may move an input)."""
        modifier = workflow_rule.input_modifier
        return str(workflow_rule.apply_path_modifier(path, modifier, property="input")) if modifier else path

    def settings_file(wildcards):
        named = dict(wildcards.items())
        text = settings_text(workflow_rule.name, named, job_params(workflow_rule, wildcards))
        path = settings_path(workflow_rule.name, named)
        if executing():
            write_text_if_changed(on_disk(path), text)
            return path
        current = Path(on_disk(path))
        if current.is_file() and current.read_text(encoding="utf-8") == text:
            return path
        planned = settings_path(workflow_rule.name, named, PLANNED_ROOT)
        write_text_if_changed(on_disk(planned), text)
        os.utime(on_disk(planned))  # newer than any output, as a rewritten settings file would be
        return planned

    return settings_file


def track_settings():
    """Give every rule of this workflow that has params its settings file as an input (named
    ``settings``; the stage functions are not passed it). Called once, after the last rule file."""
    for candidate in list(workflow.rules):  # (a loop variable called rule* would read as a rule to --lint)
        if candidate.name not in EARLIER_RULES and candidate.params:
            candidate.set_input(**{SETTINGS_INPUT: job_settings(candidate)})
