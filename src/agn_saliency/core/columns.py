"""Every column of every table the pipeline writes, described once: name, unit and meaning.

The writers take their columns' units and descriptions from here
(:func:`agn_saliency.io.tables.write_table` with ``schema=``), so ``Table.read(path)[name].description``
and ``.unit`` answer for every column, and the output reference (the "Table columns" section of
docs/outputs.md) is rendered from the same :data:`TABLES` by :func:`reference_markdown`
(``python -m agn_saliency.settings --write-reference`` rewrites it; a test checks it is current).

A column's ``unit`` is an ``astropy.units`` string: ``""`` for a dimensionless number, ``None``
for text, counts and flags (no unit written). Columns whose names depend on the run (the
candidates' parameters of a grid search, one probability per class) are described by
:class:`Column` patterns: a regular expression whose groups fill ``{0}``, ``{1}`` … of the
description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agn_saliency.core.units import SDSS_FLUX_UNIT, SDSS_LINE_FLUX_UNIT

__all__ = [
    "GATE_COLUMNS",
    "LOW_CONFIDENCE_DOC",
    "TABLES",
    "VERDICTS",
    "Column",
    "TableSchema",
    "reference_markdown",
]

KMS = "km / s"
ANGSTROM = "Angstrom"


@dataclass(frozen=True)
class Column:
    """One column: its ``name`` (a regular expression when ``pattern``), meaning and unit."""

    name: str
    description: str
    unit: str | None = None
    pattern: bool = False

    def matches(self, name: str) -> re.Match[str] | None:
        """The match of ``name`` against this column (a pattern, or the exact name)."""
        return re.fullmatch(self.name if self.pattern else re.escape(self.name), name)


@dataclass(frozen=True)
class TableSchema:
    """A table the pipeline writes: where, what one row is, and its columns."""

    key: str
    path: str
    description: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        """The description of column ``name`` (a pattern's description with its groups filled in).

        Raises
        ------
        KeyError
            No column of this table is or matches ``name``.
        """
        for column in self.columns:
            if match := column.matches(name):
                if not column.pattern:
                    return column
                return Column(name, column.description.format(*match.groups()), column.unit)
        raise KeyError(f"{self.path}: column {name!r} is not described in agn_saliency.core.columns.TABLES[{self.key!r}]")

    def units(self, names: Iterable[str]) -> dict[str, str]:
        """Unit of each of ``names`` that has one."""
        return {name: unit for name in names if (unit := self.column(name).unit) is not None}

    def descriptions(self, names: Iterable[str]) -> dict[str, str]:
        """Description of each of ``names``."""
        return {name: self.column(name).description for name in names}


def _table(key: str, path: str, description: str, *columns: Column) -> TableSchema:
    return TableSchema(key, path, description, columns)


_IDS = (
    Column("plate", "SDSS plate number (-1 / empty: not an SDSS plate spectrum)"),
    Column("mjd", "MJD of the observation (SDSS's plate-MJD)"),
    Column("fiberid", "SDSS fiber number on the plate (-1 / empty: not an SDSS plate spectrum)"),
)
_SPECID = Column(
    "specid",
    "the spectrum's id in its survey: sdss PPPP-MMMMM-FFFF (plate, MJD, fiber), sdss5 FFFFFF-MMMMM-C (field, MJD, "
    "catalogid), desi the TARGETID (agn_saliency.core.identity)",
)
_SURVEY = Column("survey", "the survey the spectrum comes from: sdss, sdss5 or desi (absent in outputs written before: sdss)")
_QUALIFIED = Column(
    "specid",
    "the spectrum's survey-qualified id: an sdss id PPPP-MMMMM-FFFF as it is, any other <survey>-<id> "
    "(desi-39633345008634465; agn_saliency.core.identity.qualified_id)",
)
_DESI_IDS = (
    Column("desi_survey", "DESI survey of the file (main, sv1, sv3, …; empty: not DESI or not known)"),
    Column("program", "DESI program of the file (dark, bright, backup, other; empty: not DESI or not known)"),
    Column("healpix", "DESI healpix (nside 64, nested) of the file, -1 when the file is not a healpix coadd"),
)
_LABEL = Column("label", "the catalog's class: type1, type2 or intermediate (empty: unlabelled)")
_ROW = Column("row", "catalog row (1-based; files without a catalog row follow the last)")
_REASON = Column("reason", "why the row is not ok (empty when it is)")
_CLASSES = "type1|type2|intermediate"

VERDICTS: dict[str, str] = {
    "classified": "an AGN by the gate, in the training distribution and reduced: the class can be used",
    "not_agn": "the AGN gate finds no AGN (passive, star-forming or retired galaxy): ignore the class",
    "ood": "an AGN or unclear to the gate, but unlike every training spectrum: the class is an extrapolation",
    "uncertain": "the AGN gate cannot tell (composite, weak or uncovered lines): check the spectrum before using the class",
    "rejected": "not reduced (see reason): no class",
}
"""``verdict`` values of predictions.ecsv, in the order they are decided (the first that applies)."""

LOW_CONFIDENCE_DOC = (
    "low when p_max < predict.low_confidence_p_max (default 0.6): the class is the model's best guess, not a confident call"
)

_GATE_LINES = {
    "hbeta": "narrow Hβ",
    "oiii_5008": "[OIII] 5008",
    "halpha": "narrow Hα",
    "nii_6585": "[NII] 6585",
}

GATE_COLUMNS: tuple[Column, ...] = (
    Column("agn_status", "the AGN gate's call on the whole observed spectrum: agn, not_agn or uncertain"),
    Column("bpt_class", "BPT class of the narrow lines: seyfert, liner, composite, star_forming (empty: not placed)"),
    *(
        column
        for key, line in _GATE_LINES.items()
        for column in (
            Column(f"{key}_flux", f"{line} flux (observed frame) from the gate's fit", SDSS_LINE_FLUX_UNIT),
            Column(
                f"{key}_flux_err",
                f"1σ error of {key}_flux (fit covariance, scaled by the reduced χ² when above 1)",
                SDSS_LINE_FLUX_UNIT,
            ),
            Column(f"{key}_ew", f"rest-frame equivalent width of {line} (positive = emission)", ANGSTROM),
            Column(f"{key}_ew_err", f"1σ error of {key}_ew (from the flux error; the continuum's is neglected)", ANGSTROM),
            Column(
                f"{key}_snr",
                f"S/N of the {line} flux the decision used (the gate's fit, or SPZLINE's where gate_source says so); "
                "a line counts as detected at S/N ≥ 3",
                "",
            ),
        )
    ),
    Column("log_oiii_hbeta", "log10 [OIII] 5008 / narrow Hβ flux ratio (BPT y; NaN unless both detected)", ""),
    Column("log_nii_halpha", "log10 [NII] 6585 / narrow Hα flux ratio (BPT x; NaN unless both detected)", ""),
    Column("broad_fwhm", "FWHM of the broad Balmer component that made the spectrum an AGN, instrument removed (NaN: none)", KMS),
    Column("broad_fwhm_err", "1σ error of broad_fwhm (from the fit's Jacobian; NaN: none)", KMS),
    Column("broad_flux", "flux of that broad component (observed frame; NaN: none)", SDSS_LINE_FLUX_UNIT),
    Column("broad_flux_err", "1σ error of broad_flux", SDSS_LINE_FLUX_UNIT),
    Column(
        "broad_snr",
        "S/N of the broad component's flux in the region that decides (Hα, else Hβ); the broad-line rule needs ≥ 5",
        "",
    ),
    Column("broad_line", "which broad Balmer line decided: Hα or Hβ (empty: none)"),
    Column("lines_covered", "comma-separated emission lines the spectrum covers with good pixels"),
    Column(
        "gate_source",
        "whose line fluxes the BPT ratios use: own, own+spzline or spzline (empty: nothing measured); "
        "own (DESI: no SPZLINE) for a DESI spectrum, whose files carry no line measurements (Hα–[NII] reach "
        "z ≈ 0.5 in the Z arm)",
    ),
    Column(
        "spzline_oiii_log_ratio", "log10(gate's [OIII] 5008 flux / SDSS SPZLINE's): the cross-check of the fit (0 = agree)", ""
    ),
    Column(
        "spzline_halpha_log_ratio", "log10(gate's narrow Hα flux / SDSS SPZLINE's): the cross-check of the fit (0 = agree)", ""
    ),
    Column("spzline_bpt_class", "BPT class from SDSS SPZLINE's fluxes alone (empty: not placed or no SPZLINE)"),
    Column(
        "flux_scale",
        f"ok, or implausible when the file's median flux (median_flux) is far outside what its unit ({SDSS_FLUX_UNIT}, "
        "SDSS's BUNIT) allows: line fluxes and broad_flux are then off by the same factor (ratios, widths, EWs and the "
        "class are not)",
    ),
    Column("median_flux", "median flux density of the file's good pixels, in the unit the file claims", SDSS_FLUX_UNIT),
    Column("gate_reason", "one sentence: why agn_status is what it is"),
)
"""The AGN gate's columns (:func:`agn_saliency.spectra.gate.assess_spectrum`), in order."""

_P_CLASS = Column(rf"p_({_CLASSES})", "calibrated probability of class {0}", "", pattern=True)
_TIME = "(fit|score)"

TABLES: dict[str, TableSchema] = {
    schema.key: schema
    for schema in (
        _table(
            "catalog",
            "results/acquire/catalog.csv",
            "the sample's catalog, plain CSV: simulated (synthetic) or validated from data.catalog (sdss)",
            *_IDS,
            Column("z", "redshift (empty: the file's pipeline redshift is used)", ""),
            _LABEL,
            Column("run2d", "SDSS reduction version of the file (sdss; empty: the default of its plate)"),
            Column("targetid", "DESI TARGETID of a DESI row (plate, mjd, fiberid empty); the column is absent without DESI rows"),
        ),
        _table(
            "duplicates",
            "results/acquire/duplicates.ecsv",
            "sdss: a catalog row naming a spectrum already listed (rejected later)",
            Column("row", "the repeating catalog row (1-based)"),
            Column("first_row", "the first row naming the same spectrum"),
            _SPECID,
        ),
        _table(
            "inventory",
            "results/acquire/inventory/shard-NNN.ecsv",
            "one spectrum (or, for a DESI file without a catalog, every target of the file) of an acquisition shard, "
            "handed to the reduction",
            _ROW,
            _SURVEY,
            Column(
                "specid",
                "the spectrum's id in its survey (agn_saliency.core.identity); empty for a DESI file row that stands "
                "for every target of the file",
            ),
            *_IDS,
            Column("z", "redshift from the catalog (empty: the file's)", ""),
            _LABEL,
            Column("path", "the FITS file (relative to the working directory, or absolute)"),
            Column("status", "ok (a file to reduce), missing or failed"),
            _REASON,
        ),
        _table(
            "truth",
            "results/acquire/truth/shard-NNN.ecsv",
            "synthetic: what the simulator drew for one spectrum (the broad-line values are empty for type 2)",
            _SURVEY,
            _SPECID,
            *_IDS,
            _LABEL,
            Column("z", "redshift", ""),
            Column("snr", "median S/N per pixel drawn for the spectrum", ""),
            Column("has_broad", "True for type 1 and intermediate (a broad-line region was drawn)"),
            Column("broad_fwhm", "FWHM of the core Gaussian of every broad line", KMS),
            Column("broad_shift", "centroid shift of the broad core (positive = redward)", KMS),
            Column("broad_wing_fraction", "flux share of the broad lines' wing Gaussian", ""),
            Column("broad_wing_fwhm", "FWHM of the wing Gaussian", KMS),
            Column("broad_wing_shift", "wing centroid shift from the systemic redshift", KMS),
            Column("broad_hbeta_ew", "broad Hβ rest equivalent width against the total continuum at Hβ", ANGSTROM),
            Column("broad_to_narrow_hbeta", "broad / narrow Hβ flux ratio", ""),
            Column("broad_halpha_hbeta", "broad Hα / Hβ flux ratio", ""),
            Column("broad_hbeta_flux", "observed integrated broad Hβ flux", SDSS_LINE_FLUX_UNIT),
            Column("r_feii", "F(FeII 4434–4684 Å) / F(broad Hβ)", ""),
            Column("feii_fwhm", "FWHM of the FeII template", KMS),
            Column("balmer_continuum", "Balmer continuum at the edge relative to the power law", ""),
            Column("narrow_hbeta_flux", "observed narrow Hβ flux", SDSS_LINE_FLUX_UNIT),
            Column("narrow_fwhm", "FWHM of the narrow lines", KMS),
            Column("host_fraction", "host galaxy share of the 5100 Å continuum", ""),
            Column("agn_ebv", "E(B−V) of the AGN power law", "mag"),
        ),
        _table(
            "manifest",
            "results/acquire/manifest/shard-NNN.ecsv",
            "sdss: one file of a download job",
            Column("survey", "the survey of the file: sdss, sdss5 or desi (absent in manifests written before: sdss)"),
            Column(
                "specid",
                "sdss: PPPP-MMMMM-FFFF (plate, MJD, fiber); sdss5: FFFFFF-MMMMM-C (field, MJD, catalogid); "
                "desi: the file's name without .fits (a coadd or redrock file holds many targets)",
            ),
            Column("plate", "SDSS plate number (-1: not an SDSS plate spectrum)"),
            Column("mjd", "MJD of the observation (-1: a DESI file)"),
            Column("fiberid", "SDSS fiber number on the plate (-1: not an SDSS plate spectrum)"),
            Column("url", "where the file was fetched from"),
            Column("path", "the file, relative to data.dir"),
            Column("status", "ok, missing (HTTP 404/410) or failed"),
            Column("reason", "why the file is missing or failed (empty when ok)"),
            Column("bytes", "size of the file on disk (when ok)", "byte"),
            Column("sha256", "SHA-256 of the file on disk (when ok)"),
            Column("attempts", "HTTP attempts (0 when cached)"),
            Column("cached", "True when the file was already there and not fetched again"),
        ),
        _table(
            "rejected",
            "results/reduced/rejected.ecsv (and shards/rejected-NNN.ecsv)",
            "a spectrum that was not reduced, with the reason",
            _ROW,
            _SURVEY,
            _SPECID,
            Column("source_file", "the FITS file (empty: no file was acquired)"),
            Column("file_row", "0-based FIBERMAP row of a DESI file (empty: the whole file, or a one-spectrum file)"),
            _LABEL,
            Column("reason", "why it was rejected"),
        ),
        _table(
            "spectra",
            "results/reduced/spectra.ecsv",
            "one spectrum of cube.h5, in cube order (the cube's meta/ datasets)",
            _SURVEY,
            _SPECID,
            *_IDS,
            *_DESI_IDS,
            Column("z", "redshift used for the rest frame", ""),
            Column("z_source", "where z came from: catalog or file (the SDSS pipeline's Z)"),
            Column("z_err", "the SDSS pipeline's redshift error (NaN if the file has none)", ""),
            Column("zwarning", "the survey pipeline's ZWARNING bits (0 = none, -1 = not in the file)"),
            _LABEL,
            Column("sdss_class", "the survey pipeline's CLASS (SDSS CLASS, DESI redrock SPECTYPE: QSO, GALAXY, STAR)"),
            Column("sdss_subclass", "the survey pipeline's SUBCLASS (e.g. BROADLINE, AGN, STARFORMING; DESI SUBTYPE)"),
            Column(
                "norm_flux",
                "mean (or median, reduce.norm_statistic) observed flux density in the normalisation window",
                SDSS_FLUX_UNIT,
            ),
            Column("source_file", "the FITS file the spectrum was read from"),
            Column("file_row", "0-based row of the file's spectra (DESI FIBERMAP row; 0 for a one-spectrum file)"),
            _ROW,
        ),
        _table(
            "split",
            "results/split/split.ecsv",
            "one reduced spectrum's set, stratified by label",
            _SURVEY,
            _SPECID,
            _LABEL,
            Column("subset", "train, validation or test"),
        ),
        _table(
            "cv",
            "results/classify/{task}/{kernel}_cv.ecsv",
            "one candidate of a kernel's cross-validated grid search",
            Column("C", "SVC regularisation C of the candidate", ""),
            Column("gamma", "kernel coefficient γ of the candidate (scale / auto: from the training flux)", ""),
            Column("coef0", "independent term of the polynomial kernel", ""),
            Column("degree", "degree of the polynomial kernel"),
            Column("class_weight", "SVC class weights: balanced, or empty (every class weighs 1)"),
            Column("mean_test_score", "mean over the folds of the validation-fold score (classify.scoring)", ""),
            Column("std_test_score", "standard deviation over the folds of that score", ""),
            Column("rank_test_score", "rank of the candidate by mean_test_score (1 = best)"),
            Column(r"split(\d+)_test_score", "score on validation fold {0}", "", pattern=True),
            Column(rf"mean_{_TIME}_time", "mean time to {0} on one fold", "s", pattern=True),
            Column(rf"std_{_TIME}_time", "standard deviation of the time to {0} on one fold", "s", pattern=True),
        ),
        _table(
            "metrics",
            "results/metrics/{task}.html",
            "one class of the test set, then the averages (the report's metrics table; the numbers are those of {task}.json)",
            Column("class", "the true class, or macro / weighted average, or accuracy"),
            Column("precision", "of the spectra called this class, the share that are", ""),
            Column("recall", "of the spectra of this class, the share called it", ""),
            Column("f1", "harmonic mean of precision and recall", ""),
            Column("support", "test spectra of this class"),
        ),
        _table(
            "test_predictions",
            "results/classify/{task}/test_predictions.ecsv",
            "one test spectrum's true and predicted class",
            _QUALIFIED,
            Column("true", "the catalog's class"),
            Column("predicted", "the selected model's class (highest probability)"),
            _P_CLASS,
        ),
        _table(
            "selected",
            "results/saliency/{task}_selected.ecsv",
            "a test spectrum whose saliency figure is drawn (figure named by specid), and why",
            _QUALIFIED,
            Column("true", "the catalog's class"),
            Column("predicted", "the model's class"),
            Column("why", "misclassified (every one) or random (explain.n_random_per_class correct ones per class)"),
        ),
        _table(
            "line_share",
            "results/saliency/{task}_line_share.ecsv",
            "one true class and spectral region: where the predicted class's |saliency| goes",
            Column("class", "true class of the test spectra averaged"),
            Column("region", "narrow_core, broad_wing, feii, lines (cores and wings) or continuum (the rest)"),
            Column("saliency_share", "mean share of the predicted class's |saliency| inside the region", ""),
            Column("pixel_share", "share of the grid's pixels the region covers", ""),
            Column("enrichment", "saliency_share / pixel_share (1 = no preference)", ""),
            Column("n_spectra", "test spectra of the class"),
        ),
        _table(
            "line_absorption",
            "results/saliency/{task}_line_absorption.ecsv",
            "one true class: how much more the model's own-class gradient weighs emission lines than stellar absorption",
            Column("class", "true class of the test spectra averaged"),
            Column(
                "line_absorption_ratio",
                "mean |∂p_k/∂flux| per pixel in the emission-line windows over the same in the absorption windows "
                "(agn_saliency.explain.robustness; issue 21 asks ≥ 2)",
                "",
            ),
            Column(
                "line_absorption_ratio_of_mean", "the same ratio of the class-mean map (what the class-mean figure shows)", ""
            ),
            Column("n_spectra", "test spectra of the class"),
        ),
        _table(
            "host_dilution",
            "results/saliency/{task}_host_dilution.ecsv",
            "one host fraction: do type-1 test spectra keep their class when host starlight replaces part of their continuum?",
            Column("host_fraction", "share of the 5100 Å continuum replaced by host starlight", ""),
            Column("kept_type1", "share of the type-1 test spectra still called type 1 (issue 21 asks ≥ 0.95 at 0.6)", ""),
            Column("kept_if_correct", "the same share among the type-1 test spectra called type 1 undiluted", ""),
            Column("n_spectra", "type-1 test spectra"),
        ),
        _table(
            "faithfulness",
            "results/saliency/{task}_faithfulness.ecsv",
            "one attribution method: do its maps point at pixels the model needs?",
            Column("method", "attribution method"),
            Column("n_spectra", "spectra evaluated"),
            Column("n_fractions", "perturbation steps (fractions of pixels, 0 and 1 included)"),
            Column("n_seeds", "random pixel orders"),
            Column("p_unperturbed", "mean target probability of the spectra", ""),
            Column("p_baseline", "mean target probability of the baselines", ""),
            Column("deletion_aopc", "mean over spectra of the deletion AOPC, most-relevant pixels first", ""),
            Column("deletion_aopc_random", "mean deletion AOPC of random pixel orders (over seeds and spectra)", ""),
            Column("deletion_aopc_random_std", "standard deviation over seeds of the random-order mean deletion AOPC", ""),
            Column("deletion_margin", "deletion_aopc - deletion_aopc_random (> 0: the map beats random)", ""),
            Column("deletion_margin_sem", "standard error (over spectra) of the per-spectrum deletion margin", ""),
            Column("insertion_auc", "mean over spectra of the insertion area under the curve", ""),
            Column("insertion_auc_random", "mean insertion AUC of random pixel orders (over seeds and spectra)", ""),
            Column("insertion_auc_random_std", "standard deviation over seeds of the random-order mean insertion AUC", ""),
            Column("insertion_margin", "insertion_auc - insertion_auc_random (> 0: the map beats random)", ""),
            Column("insertion_margin_sem", "standard error (over spectra) of the per-spectrum insertion margin", ""),
            Column("randomisation_spearman", "mean Spearman correlation of the maps with those of a label-permuted model", ""),
            Column("randomisation_spearman_abs", "the same for |attribution|", ""),
            Column("top_k", "pixels counted by top_k_fraction"),
            Column("top_k_fraction", "mean share of the top-k |attribution| pixels inside the planted region", ""),
            Column("top_k_chance", "mean share of the region in the grid (the chance level of top_k_fraction)", ""),
        ),
        _table(
            "faithfulness_curves",
            "results/saliency/{task}_faithfulness_curves.ecsv",
            "one point of a mean deletion or insertion curve",
            Column("method", "attribution method, or random (the random pixel orders)"),
            Column("curve", "deletion or insertion"),
            Column("fraction", "fraction of pixels deleted or inserted", ""),
            Column("p_mean", "mean target probability over spectra", ""),
            Column("p_std", "standard deviation of that probability over spectra", ""),
        ),
        _table(
            "predictions",
            "results/predict/<name>/predictions.ecsv",
            "one spectrum of the predicted folder — one per FITS file, one per FIBERMAP row of a DESI file (sorted by "
            "path, then file row); filter on verdict",
            Column("file", "the FITS file (absolute path)"),
            Column(
                "key",
                "the spectrum's name in this folder's results: its file's path below the folder, / written __, suffix "
                "dropped; a DESI target's adds __<TARGETID> (or __row<N> when it has none)",
            ),
            _SURVEY,
            Column("specid", "the spectrum's id in its survey (agn_saliency.core.identity; empty: the file was not read)"),
            *_IDS,
            *_DESI_IDS,
            Column("z", "redshift used (the file's pipeline redshift; DESI: its redrock/zbest file's)", ""),
            Column("verdict", "can the class be used? " + "; ".join(f"{k}: {v}" for k, v in VERDICTS.items())),
            Column("status", "ok, ood (out of the training distribution) or rejected: the reduction and OOD evidence"),
            Column("reason", "why status is ood or rejected (empty when ok)"),
            Column(
                "duplicate_of",
                "the first file (by path; a DESI coadd before a spectra file) holding the same spectrum (empty: none)",
            ),
            Column("predicted", "the model's class (highest probability; empty when rejected)"),
            _P_CLASS,
            Column("p_max", "the highest class probability (the predicted class's)", ""),
            Column("confidence", LOW_CONFIDENCE_DOC + "; high otherwise (empty when rejected)"),
            Column("ood_score", "RMS per pixel distance, in the model's scaled flux, to the k-th nearest training spectrum", ""),
            *GATE_COLUMNS,
        ),
    )
}
"""Every table the pipeline writes, by key."""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def reference_markdown(level: int = 3) -> str:
    """The "Table columns" reference: a heading per table (its path and what a row is) and a
    table of its columns (name, unit, description); pattern names shown as ``<...>`` templates."""
    lines: list[str] = []
    for schema in TABLES.values():
        lines += ["#" * level + f" {schema.key}", "", f"`{schema.path}`: {_cell(schema.description)}.", ""]
        lines += ["| column | unit | description |", "|---|---|---|"]
        for column in schema.columns:
            name = _template(column.name) if column.pattern else column.name
            unit = "" if column.unit is None else (column.unit or "dimensionless")
            description = column.description.format(*_placeholders(column)) if column.pattern else column.description
            lines.append(f"| `{name}` | {unit} | {_cell(description)} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_GROUP_NAMES = {r"(\d+)": "k", rf"({_CLASSES})": "class", _TIME: "fit|score"}


def _template(pattern: str) -> str:
    for group, name in _GROUP_NAMES.items():
        pattern = pattern.replace(group, f"<{name}>")
    return pattern


def _placeholders(column: Column) -> list[str]:
    groups = re.findall(r"\((?:[^()]|\([^()]*\))*\)", column.name)
    return [f"<{_GROUP_NAMES.get(group, 'x')}>" for group in groups]
