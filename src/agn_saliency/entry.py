"""How a workflow script calls its rule's stage function: one seam, bound by name.

Every ``workflow/scripts/<rule>.py`` is a docstring, an import and::

    if __name__ == "__main__":
        run(<stage function>, globals().get("snakemake"))

**Under Snakemake** (its ``script:`` directive defines ``snakemake``), :func:`run` binds the job to
the stage function's keyword-only parameters **by name**:

* ``input: cube=…`` → parameter ``cube``;
* ``output: model=…`` → parameter ``model_out`` (outputs end in ``_out``, so an input and an
  output of the same name stay apart);
* ``params: seed=…`` → parameter ``seed``;
* a ``{task}`` wildcard → parameter ``task``, converted to the parameter's ``int``/``float``
  annotation (``perplexity: float``);
* ``threads`` and resources (``mem_mb``, …) → parameters of those names, only when the function
  asks for them;
* ``snakemake.config`` → parameter ``config``, only when asked: for values that must *not* rerun
  the job (a changed config value is no rerun trigger, a changed param is).

The input ``settings`` (``results/settings/…/params.json``, which the workflow adds to every rule
with params, :mod:`agn_saliency.core.job_settings`) is for Snakemake's file dates only and is not
passed. A list of files (``input: shards=expand(…)``) arrives as a ``list[str]``; params keep their
values (mappings as plain ``dict``). Every named input, output, param and wildcard must have a
parameter, and every parameter without a default a partner: otherwise the job stops with one line
naming the rule, the name and the partners there are. Outputs must be named (a stage function
writes where it is told); an unnamed input may only be an input function that adds no file.
The log goes to the rule's ``log:`` file and stderr.

**On its own**, for debugging (a breakpoint, a profiler, other files), the same script takes the
stage function's parameters by name on the command line, from the working directory of a run::

    .venv/bin/python workflow/scripts/select_model.py --help
    .venv/bin/python workflow/scripts/plot_grid.py --cv-results '[results/classify/binary/rbf_cv.ecsv]' \\
        --plots-out '[/tmp/grid.png]' --task binary --kernels '[rbf]' --scoring f1_macro
    .venv/bin/python -m pdb workflow/scripts/split_sample.py --cube results/reduced/cube.h5 \\
        --split-out /tmp/split.ecsv --test-fraction 0.2 --validation-fraction 0.2 --seed 42

``--name value`` or ``--name=value`` (``-`` or ``_`` alike); a value is read as YAML (``2``,
``0.5``, ``true``, ``[a.h5, b.h5]``, ``{C: [1, 10]}``) unless the parameter is annotated ``str``;
``--log FILE`` also writes the log to FILE. What the rule would pass is in its ``.smk`` file
(``snakemake -n -p --forcerun <rule>`` shows the job's files and wildcards).
"""

from __future__ import annotations

import inspect
import logging
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agn_saliency.core.job_settings import SETTINGS_INPUT
from agn_saliency.core.redact import redact

__all__ = ["BindingError", "OUTPUT_SUFFIX", "bind", "command_line_arguments", "run"]

OUTPUT_SUFFIX = "_out"
"""Parameters that receive a rule's outputs end in this (input ``model`` and output ``model`` differ)."""


class BindingError(TypeError):
    """A rule's names and its stage function's parameters do not pair up."""


def _is_text(annotation: Any) -> bool:
    return annotation is str or annotation == "str"


def _named(items: Any) -> dict[str, Any]:
    """A Snakemake ``Namedlist``'s named entries (a plain mapping passes through)."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    return dict(items.items())


def _unnamed(items: Any) -> list[Any]:
    """Entries of a Snakemake ``Namedlist`` that no name covers."""
    names = getattr(items, "_names", None)
    if names is None:
        return []
    covered = set()
    for start, end in names.values():
        covered.update(range(start, start + 1 if end is None else end))
    return [item for i, item in enumerate(items) if i not in covered]


def _plain(value: Any) -> Any:
    """Snakemake containers as the plain values a library function expects."""
    if isinstance(value, str):
        return str(value)  # IOFile / AnnotatedString → str
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _annotations(stage: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(stage)
    except Exception:  # an annotation that does not resolve: bind without conversions
        return {}


def _wildcard_value(value: str, annotation: Any) -> Any:
    return annotation(value) if annotation in (int, float) else str(value)


def bind(stage: Callable[..., Any], job: Any) -> dict[str, Any]:
    """``stage``'s keyword arguments from a Snakemake ``job`` (the ``snakemake`` object of a script).

    Raises
    ------
    BindingError
        A name of the rule without a parameter, a parameter without a partner, an unnamed output,
        or the same name from two places — one line naming the rule and the name.
    """
    rule = getattr(job, "rule", "?")
    where = f"rule {rule} → {getattr(stage, '__module__', '?')}.{stage.__name__}"
    parameters = inspect.signature(stage).parameters
    hints = _annotations(stage)
    offered: dict[str, tuple[str, Any]] = {}

    def offer(name: str, origin: str, value: Any) -> None:
        if name in offered:
            raise BindingError(f"{where}: {origin} and {offered[name][0]} both give '{name}'; rename one")
        offered[name] = (origin, value)

    if unnamed := _unnamed(job.output):
        raise BindingError(
            f"{where}: output {unnamed[0]!s} has no name; name it (name=…) so the stage receives name{OUTPUT_SUFFIX}"
        )
    if unnamed := [item for item in _unnamed(job.input) if isinstance(item, str) and item]:
        raise BindingError(f"{where}: input {unnamed[0]!s} has no name; name it (name=…)")
    for name, value in _named(job.input).items():
        if name == SETTINGS_INPUT:  # the job's params as a file, for Snakemake's dates; the params carry the values
            continue
        offer(name, f"input {name}", _plain(value))
    for name, value in _named(job.output).items():
        offer(name + OUTPUT_SUFFIX, f"output {name}", _plain(value))
    for name, value in _named(job.params).items():
        offer(name, f"params {name}", _plain(value))
    for name, value in _named(job.wildcards).items():
        offer(name, f"wildcard {{{name}}}", _wildcard_value(value, hints.get(name)))

    arguments = {}
    for name, (origin, value) in offered.items():
        if name not in parameters:
            raise BindingError(f"{where}: {origin} has no parameter '{name}' (parameters: {', '.join(parameters)})")
        arguments[name] = value
    on_request = {"threads": lambda: job.threads, "config": lambda: _plain(job.config)}
    resources = _named(getattr(job, "resources", None))
    for name, parameter in parameters.items():
        if name in arguments:
            continue
        if name in on_request:
            arguments[name] = on_request[name]()
        elif name in resources and not name.startswith("_"):
            arguments[name] = resources[name]
        elif parameter.default is inspect.Parameter.empty:
            raise BindingError(
                f"{where}: parameter '{name}' has no partner (inputs: {', '.join(_named(job.input)) or '-'}; "
                f"outputs: {', '.join(n + OUTPUT_SUFFIX for n in _named(job.output)) or '-'}; "
                f"params: {', '.join(_named(job.params)) or '-'}; wildcards: {', '.join(_named(job.wildcards)) or '-'})"
            )
    return arguments


def command_line_arguments(main: Callable[..., Any], argv: Sequence[str]) -> tuple[dict[str, Any], str | None]:
    """``main``'s keyword arguments and the ``--log`` file from ``--name value`` pairs.

    >>> def main(*, cube: str, seed: int, grid: dict) -> None: ...
    >>> command_line_arguments(main, ["--cube", "x.h5", "--seed=7", "--grid", "{C: [1, 10]}"])
    ({'cube': 'x.h5', 'seed': 7, 'grid': {'C': [1, 10]}}, None)
    """
    import yaml

    parameters = inspect.signature(main).parameters
    hints = _annotations(main)
    usage = "arguments: " + " ".join(
        f"--{name.replace('_', '-')}" + ("" if p.default is inspect.Parameter.empty else f" (default {p.default!r})")
        for name, p in parameters.items()
    )
    arguments: dict[str, Any] = {}
    log = None
    items = list(argv)
    while items:
        item = items.pop(0)
        if item in ("-h", "--help"):
            raise SystemExit(f"{inspect.getdoc(main) or ''}\n{usage} [--log FILE]".strip())
        if not item.startswith("--"):
            raise SystemExit(f"expected --name value, got {item!r}; {usage}")
        name, _, value = item[2:].partition("=")
        name = name.replace("-", "_")
        if not _:
            if not items:
                raise SystemExit(f"--{name} needs a value")
            value = items.pop(0)
        if name == "log":
            log = value
        elif name not in parameters:
            raise SystemExit(f"unknown argument --{name}; {usage}")
        else:
            text = _is_text(hints.get(name, parameters[name].annotation))
            arguments[name] = value if text else yaml.safe_load(value)
    missing = [n for n, p in parameters.items() if p.default is inspect.Parameter.empty and n not in arguments]
    if missing:
        raise SystemExit(f"missing {', '.join('--' + n.replace('_', '-') for n in missing)}; {usage}")
    return arguments, log


def run(stage: Callable[..., Any], snakemake: Any, errors: tuple[type[BaseException], ...] = ()) -> Any:
    """Call ``stage`` with the job's values (``snakemake`` given) or the command line's (``None``).

    Exceptions of the types in ``errors`` end the process with ``Error: <message>`` and no traceback
    (failures the message fully explains, such as a download that gave up). Any other exception is
    logged with its traceback, to the rule's ``log:`` file as well as stderr, and ends the job.
    """
    from agn_saliency.core.logs import setup_logging

    if snakemake is not None:
        try:
            arguments = bind(stage, snakemake)
        except BindingError as error:
            raise SystemExit(f"Error: {error}") from None
        log = snakemake.log[0] if snakemake.log else None
    else:
        arguments, log = command_line_arguments(stage, sys.argv[1:])
    # In a workflow job the log file gets everything and the terminal only warnings and errors.
    logger = setup_logging(log, terminal_level=logging.WARNING if snakemake is not None and log else None)
    try:
        return stage(**arguments)
    except errors as error:
        logger.error("Error: %s", redact(str(error)))
        raise SystemExit(1) from None
    except Exception:
        # The traceback goes to the rule's log: file (what Snakemake and SLURM point at) and the
        # terminal once, through the log's handlers (credentials in URLs redacted).
        logger.exception("%s failed", getattr(stage, "__name__", "the job"))
        if snakemake is None:
            raise  # on its own (pdb, a profiler): the exception itself
        raise SystemExit(1) from None
