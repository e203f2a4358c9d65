"""How a workflow script starts: under Snakemake, or on its own for debugging.

Every ``workflow/scripts/<rule>.py`` has a keyword-only ``main(*, ...)`` and ends with::

    if __name__ == "__main__":
        from agn_saliency.entry import run

        run(main, globals().get("snakemake"), lambda sm: dict(cube=sm.input.cube, out=sm.output[0], ...))

* **Under Snakemake** (its ``script:`` directive defines ``snakemake``), the lambda turns the rule's
  input, output, params, wildcards and threads into ``main``'s named arguments, and the log goes to
  the rule's ``log:`` file (and stderr).
* **On its own**, for debugging (a breakpoint, a profiler, another file), the same script takes
  ``main``'s arguments by name on the command line, from the working directory of a run::

      .venv/bin/python workflow/scripts/select_model.py --help
      .venv/bin/python workflow/scripts/plot_grid.py --cv-results results/classify/binary/rbf_cv.ecsv \\
          --out /tmp/grid.png --task binary --kernel rbf --scoring f1_macro
      .venv/bin/python -m pdb workflow/scripts/split_sample.py --cube results/reduced/cube.h5 \\
          --split-out /tmp/split.ecsv --test-fraction 0.2 --validation-fraction 0.2 --seed 42

  ``--name value`` or ``--name=value`` (``-`` or ``_`` alike); a value is read as YAML (``2``,
  ``0.5``, ``true``, ``[a.h5, b.h5]``, ``{C: [1, 10]}``) unless ``main`` annotates it ``str``;
  ``--log FILE`` also writes the log to FILE. What the rule would pass is in its ``.smk`` file
  (``snakemake -n -p --forcerun <rule>`` shows the job's files and wildcards).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["command_line_arguments", "run"]


def _is_text(annotation: Any) -> bool:
    return annotation is str or annotation == "str"


def command_line_arguments(main: Callable[..., Any], argv: Sequence[str]) -> tuple[dict[str, Any], str | None]:
    """``main``'s keyword arguments and the ``--log`` file from ``--name value`` pairs.

    >>> def main(*, cube: str, seed: int, grid: dict) -> None: ...
    >>> command_line_arguments(main, ["--cube", "x.h5", "--seed=7", "--grid", "{C: [1, 10]}"])
    ({'cube': 'x.h5', 'seed': 7, 'grid': {'C': [1, 10]}}, None)
    """
    import yaml

    parameters = inspect.signature(main).parameters
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
            arguments[name] = value if _is_text(parameters[name].annotation) else yaml.safe_load(value)
    missing = [n for n, p in parameters.items() if p.default is inspect.Parameter.empty and n not in arguments]
    if missing:
        raise SystemExit(f"missing {', '.join('--' + n.replace('_', '-') for n in missing)}; {usage}")
    return arguments, log


def run(
    main: Callable[..., Any],
    snakemake: Any,
    from_rule: Callable[[Any], dict[str, Any]],
    errors: tuple[type[BaseException], ...] = (),
) -> Any:
    """Call ``main`` with the rule's values (``snakemake`` given) or the command line's (``None``).

    Exceptions of the types in ``errors`` end the process with ``Error: <message>`` and no traceback
    (failures the message fully explains, such as a download that gave up).
    """
    from agn_saliency.core.logs import setup_logging

    if snakemake is not None:
        arguments, log = from_rule(snakemake), (snakemake.log[0] if snakemake.log else None)
    else:
        arguments, log = command_line_arguments(main, sys.argv[1:])
    setup_logging(log)
    try:
        return main(**arguments)
    except errors as error:
        raise SystemExit(f"Error: {error}") from None
