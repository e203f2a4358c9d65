"""Stage functions: one per workflow rule, from its input files to its output files.

One module per ``workflow/rules/<stage>.smk`` — :mod:`~agn_saliency.stages.acquire`,
:mod:`~agn_saliency.stages.reduce`, :mod:`~agn_saliency.stages.split`,
:mod:`~agn_saliency.stages.embed`, :mod:`~agn_saliency.stages.classify`,
:mod:`~agn_saliency.stages.explain`, :mod:`~agn_saliency.stages.predict` — and in it one function
per rule, of the rule's name. ``workflow/scripts/<rule>.py`` hands it to
:func:`agn_saliency.entry.run`, which binds the rule's named inputs, outputs (``<name>_out``),
params and wildcards to its keyword-only parameters. Each function writes its outputs (atomically)
and returns what it wrote, so tests and benchmarks can check it without reading the files back.

Library imports are made inside each function: a job pays only for the modules its rule uses.
"""
