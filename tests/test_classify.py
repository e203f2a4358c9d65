"""Classification library: pipelines, grids, the calibrated SVM, the search and the metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import agn_saliency.learn.classify as classify
from agn_saliency.io.models import OutdatedModelError, load_model, save_model
from agn_saliency.io.tables import write_table
from agn_saliency.learn.classify import (
    DECISION_ROUTES,
    build_pipeline,
    cv_results_table,
    evaluate,
    evaluate_predictions,
    grid_search,
    param_grid,
    pipeline_params,
    support_rows,
    task_classes,
    task_mask,
)
from agn_saliency.learn.kernels import GramKernel, KernelTransformer, gram_input, kernel_matrix

CLASSES = np.array(["type1", "type2", "intermediate"])


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian classes (unequal sizes), 40 pixels, flux around 1."""
    rng = np.random.default_rng(7)
    sizes = (30, 45, 24)
    centres = rng.normal(0.0, 1.0, (3, 40))
    labels = np.repeat(np.arange(3), sizes)
    X = 1.0 + 0.1 * (0.5 * centres[labels] + rng.normal(0.0, 1.0, (labels.size, 40)))
    return X, CLASSES[labels]


# ---- tasks, kernels, grids -------------------------------------------------------------------


def test_task_classes() -> None:
    assert task_classes("binary") == ("type1", "type2")
    assert task_classes("multiclass") == ("type1", "type2", "intermediate")
    with pytest.raises(ValueError, match="unknown task"):
        task_classes("ternary")
    np.testing.assert_array_equal(task_mask(["type1", "intermediate", "type2"], "binary"), [True, False, True])


def test_build_pipeline() -> None:
    pipe = build_pipeline("poly3", seed=5, calibration_folds=4)
    assert [name for name, _ in pipe.steps] == ["scale", "kernel", "svm"]
    assert isinstance(pipe.named_steps["scale"], StandardScaler)
    kernel = pipe.named_steps["kernel"]
    assert (kernel.kernel, kernel.degree, kernel.coef0, kernel.gamma) == ("poly", 3, 1.0, "scale")
    calibrated = pipe.named_steps["svm"]
    assert isinstance(calibrated, CalibratedClassifierCV)
    assert (calibrated.method, calibrated.ensemble) == ("sigmoid", False)
    assert (calibrated.cv.n_splits, calibrated.cv.shuffle, calibrated.cv.random_state) == (4, True, 5)
    assert isinstance(calibrated.estimator, OneVsRestClassifier)
    assert calibrated.estimator.estimator.kernel == "precomputed"
    assert build_pipeline("poly2", 0).named_steps["kernel"].degree == 2
    assert build_pipeline("linear", 0).named_steps["kernel"].kernel == "linear"
    with pytest.raises(ValueError, match="unknown kernel"):
        build_pipeline("sigmoid", 0)
    with pytest.raises(ValueError, match="calibration_folds"):
        build_pipeline("rbf", 0, calibration_folds=1)
    assert pipeline_params(C=1.0, gamma=0.1) == {"svm__estimator__estimator__C": 1.0, "kernel__gamma": 0.1}
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        pipeline_params(nu=0.5)


def test_param_grid_names() -> None:
    grid = {"C": [0.1, 1], "gamma": ["scale", 0.001], "coef0": [0, 1], "class_weight": [None, "balanced"]}
    P = pipeline_params  # noqa: N806
    assert param_grid("linear", grid) == P(C=[0.1, 1.0], class_weight=[None, "balanced"])
    assert param_grid("rbf", grid) == P(C=[0.1, 1.0], gamma=["scale", 0.001], class_weight=[None, "balanced"])
    assert param_grid("poly2", grid) == P(
        C=[0.1, 1.0],
        gamma=["scale", 0.001],
        coef0=[0.0, 1.0],
        class_weight=[None, "balanced"],
        degree=[2],
    )
    assert param_grid("rbf", grid)["kernel__gamma"] == ["scale", 0.001]
    assert param_grid("rbf", grid)["svm__estimator__estimator__C"] == [0.1, 1.0]
    assert param_grid("poly3", grid)["kernel__degree"] == [3]
    # Per-kernel grids (the config's layout), shared defaults, YAML strings and nulls.
    config = {
        "class_weight": ["balanced"],
        "linear": {"C": ["1e-2", 0.07]},
        "rbf": {"C": [1], "gamma": ["1e-4"], "class_weight": [None, "null"]},
    }
    assert param_grid("linear", config) == P(C=[0.01, 0.07], class_weight=["balanced"])
    assert param_grid("rbf", config) == P(C=[1.0], gamma=[0.0001], class_weight=[None, None])
    # Every name is a real parameter of the pipeline.
    pipe = build_pipeline("poly2", 0)
    assert set(param_grid("poly2", grid)) <= set(pipe.get_params())
    pipe.steps[-1] = ("svm", pipe.named_steps["svm"].estimator)  # what a decision-scored search fits
    assert set(param_grid("poly2", grid, DECISION_ROUTES)) <= set(pipe.get_params())


@pytest.mark.parametrize(
    "kernel, grids, match",
    [
        ("cubic", {"C": [1]}, "unknown kernel"),
        ("rbf", {"C": [1], "nu": [0.5]}, "unknown grid keys"),
        ("rbf", {"C": [-1]}, "positive"),
        ("rbf", {"C": ["big"]}, "not a number"),
        ("rbf", {"gamma": [0]}, "positive"),
        ("linear", {"class_weight": ["heavy"]}, "class_weight"),
        ("linear", {"class_weight": [{"type1": 2.0}]}, "class_weight"),
        ("linear", {"C": []}, "empty"),
    ],
)
def test_param_grid_rejects(kernel, grids, match) -> None:
    with pytest.raises(ValueError, match=match):
        param_grid(kernel, grids)


# ---- the kernel step and the calibrated SVM ------------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly"])
def test_kernel_transformer_passes_sklearn_checks(kernel) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(KernelTransformer(kernel=kernel), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []


@pytest.mark.parametrize(
    "kernel, gamma, degree, coef0",
    [
        ("linear", "scale", 3, 0.0),
        ("rbf", "scale", 3, 0.0),
        ("rbf", 0.02, 3, 0.0),
        ("rbf", "auto", 3, 0.0),
        ("poly", 0.03, 2, 1.0),
        ("poly", "scale", 3, 0.5),
    ],
)
def test_kernel_transformer_is_libsvm_kernel(data, kernel, gamma, degree, coef0) -> None:
    """transform(X) against the fitted rows equals scikit-learn's pairwise kernels with SVC's gamma."""
    from sklearn.metrics.pairwise import linear_kernel, polynomial_kernel, rbf_kernel

    X, _ = data
    train, other = X[:60], X[60:]
    step = KernelTransformer(kernel=kernel, gamma=gamma, degree=degree, coef0=coef0).fit(train)
    expected_gamma = {"scale": 1.0 / (40 * train.var()), "auto": 1.0 / 40}.get(gamma, gamma)
    assert step.gamma_ == pytest.approx(expected_gamma, rel=1e-12)
    reference = {
        "linear": lambda a: linear_kernel(a, train),
        "rbf": lambda a: rbf_kernel(a, train, gamma=expected_gamma),
        "poly": lambda a: polynomial_kernel(a, train, degree=degree, gamma=expected_gamma, coef0=coef0),
    }[kernel]
    np.testing.assert_allclose(step.transform(other), reference(other), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(step.fit_transform(train), reference(train), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(step.X_fit_, train)
    assert step.transform(other).shape == (other.shape[0], 60)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize(
    "kernel, params, svc_params",
    [
        ("rbf", {}, {"kernel": "rbf"}),
        ("rbf", {"class_weight": "balanced", "gamma": 0.01}, {"kernel": "rbf", "class_weight": "balanced", "gamma": 0.01}),
        ("poly2", {"gamma": 0.02}, {"kernel": "poly", "degree": 2, "coef0": 1.0, "gamma": 0.02}),
        ("poly3", {"gamma": 0.02, "coef0": 0.5}, {"kernel": "poly", "degree": 3, "coef0": 0.5, "gamma": 0.02}),
        ("linear", {"class_weight": "balanced"}, {"kernel": "linear", "class_weight": "balanced"}),
    ],
)
def test_pipeline_equals_composite_with_svc_kernel(data, task, kernel, params, svc_params) -> None:
    """The precomputed-kernel pipeline computes what the composite with SVC's own kernel computes."""
    X, y = data
    keep = np.ones(y.size, bool) if task == "multiclass" else y != "intermediate"
    Xs, ys = X[keep], y[keep]
    ours = build_pipeline(kernel, seed=3).set_params(**pipeline_params(C=0.5, **params)).fit(Xs, ys)
    if "gamma" not in svc_params and kernel != "linear":
        # gamma="scale": the kernel step resolves it once from all rows it is fitted on, an SVC
        # inside each calibration fold from that fold's rows; compare at the same gamma.
        svc_params = {**svc_params, "gamma": ours.named_steps["kernel"].gamma_}
    reference = Pipeline(
        [
            ("scale", StandardScaler(with_std=False)),
            (
                "svm",
                CalibratedClassifierCV(
                    OneVsRestClassifier(SVC(C=0.5, **svc_params)),
                    method="sigmoid",
                    ensemble=False,
                    cv=StratifiedKFold(3, shuffle=True, random_state=3),
                ),
            ),
        ]
    ).fit(Xs, ys)
    np.testing.assert_array_equal(ours.classes_, reference.classes_)
    proba = ours.predict_proba(X)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=1e-9)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(ours.predict(X), ours.classes_[proba.argmax(axis=1)])
    rows = support_rows(ours)
    assert rows.ndim == 1 and 0 < rows.size <= ys.size and np.all(np.diff(rows) > 0)


def test_kernel_transformer_rejects_bad_parameters(data) -> None:
    X, y = data
    with pytest.raises(ValueError, match="gamma"):
        KernelTransformer(gamma=-1.0).fit(X)
    with pytest.raises(ValueError, match="kernel"):
        KernelTransformer(kernel="sigmoid").fit(X)
    with pytest.raises(ValueError, match="degree"):
        KernelTransformer(kernel="poly", degree=0).fit(X)
    with pytest.raises(ValueError, match="25-fold"):
        build_pipeline("rbf", 0, calibration_folds=25).fit(X, y)  # 'intermediate' has 24 rows
    np.testing.assert_allclose(kernel_matrix(X[:2], X[:3], "poly", 0.5, 1, 1.0), 0.5 * X[:2] @ X[:3].T + 1.0)


def test_saved_model_is_plain_sklearn_and_old_models_are_refused(data, tmp_path, monkeypatch) -> None:
    X, y = data
    model = build_pipeline("rbf", seed=0).fit(X, y)
    save_model(model, tmp_path / "m.joblib", {"kernel": "rbf"})
    loaded, meta = load_model(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert meta["kernel"] == "rbf"
    modules = {type(step).__module__.split(".")[0] for step in loaded.named_steps.values()}
    assert modules == {"sklearn", "agn_saliency"}
    assert type(loaded.named_steps["kernel"]) is KernelTransformer

    # A model pickled with the removed CalibratedKernelSVC: a clear message naming the file.
    class CalibratedKernelSVC:  # stands in for the old class while pickling
        pass

    CalibratedKernelSVC.__module__ = "agn_saliency.learn.classify"
    CalibratedKernelSVC.__qualname__ = "CalibratedKernelSVC"
    monkeypatch.setattr(classify, "CalibratedKernelSVC", CalibratedKernelSVC, raising=False)
    old = tmp_path / "old.joblib"
    save_model(CalibratedKernelSVC(), old, {})
    monkeypatch.delattr(classify, "CalibratedKernelSVC")
    with pytest.raises(OutdatedModelError, match=r"old\.joblib.*CalibratedKernelSVC.*retrain"):
        load_model(old)


# ---- the grid search ---------------------------------------------------------------------------


GRIDS = {"C": [0.3, 3.0], "gamma": ["scale", 0.01], "class_weight": [None, "balanced"]}


FITTED_SCALERS: list[np.ndarray] = []


class RecordingScaler(StandardScaler):
    """A scaler that records the rows it is fitted on (module level: the search's transformer cache pickles it)."""

    def fit(self, X_fit, y_fit=None, sample_weight=None):
        super().fit(X_fit, y_fit, sample_weight)
        FITTED_SCALERS.append(np.asarray(X_fit).copy())
        return self


def test_scaler_sees_training_folds_only(data, monkeypatch) -> None:
    """Every scaler fit inside the search uses exactly one fold's training rows (or, once, all);
    candidates of one fold share that fold's cached scaler and Gram matrix."""
    X, y = data
    row_of = {row.tobytes(): i for i, row in enumerate(X)}
    FITTED_SCALERS.clear()
    monkeypatch.setattr(classify, "StandardScaler", RecordingScaler)
    search = grid_search(X, y, "rbf", GRIDS, cv_folds=4, seed=11, n_jobs=1)
    folds = list(StratifiedKFold(4, shuffle=True, random_state=11).split(X, y))
    train_sets = [frozenset(train.tolist()) for train, _ in folds]
    fitted = [frozenset(row_of[r.tobytes()] for r in rows) for rows in FITTED_SCALERS]

    assert len(search.cv_results_["params"]) > 1
    assert set(fitted[:-1]) == set(train_sets)  # one fold's rows each, every fold
    assert len(fitted) == len(folds) + 1  # once per fold (cached across candidates), plus the refit
    assert fitted[-1] == frozenset(range(len(X)))  # the refit on the whole training set
    np.testing.assert_allclose(search.best_estimator_.named_steps["scale"].mean_, X.mean(axis=0))
    assert search.best_estimator_.memory is None  # a saved model does not point at the deleted cache


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly2", "poly3"])
def test_gram_kernel_is_the_kernel_of_centred_rows(data, kernel: str) -> None:
    """GramKernel on gram_input slices = KernelTransformer on rows centred on the fit rows' mean."""
    X, _ = data
    fit, other = np.arange(0, 60), np.arange(60, len(X))
    spec = classify._kernel_params(kernel)
    spec.setdefault("gamma", 0.02)
    full = gram_input(X, spec["kernel"])
    step = GramKernel(**spec).fit(full[np.ix_(fit, fit)])
    mean = X[fit].mean(axis=0)
    reference = KernelTransformer(**spec).fit(X[fit] - mean)
    for rows in (fit, other):
        np.testing.assert_allclose(
            step.transform(full[np.ix_(rows, fit)]), reference.transform(X[rows] - mean), rtol=1e-10, atol=1e-10
        )
    with pytest.raises(ValueError, match="positive number as gamma"):
        GramKernel("rbf", gamma="scale").fit(full)


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly2"])
def test_precomputed_search_scores_like_the_pipeline_search(data, kernel: str) -> None:
    """The fast path (one gram_input sliced by fold and candidate) scores every candidate as scikit-learn's
    GridSearchCV of the flux pipeline does (each fold centred on its own rows), and picks the same one."""
    X, y = data
    grids = {"C": [0.3, 3.0], "gamma": [0.01, 0.05], "class_weight": [None, "balanced"]}
    fast = grid_search(X, y, kernel, grids, cv_folds=3, seed=2)
    pipeline = build_pipeline(kernel, 2, 3, False)
    pipeline.steps[-1] = ("svm", pipeline.named_steps["svm"].estimator)  # scores="decisions": the SVMs themselves
    grid = {k.replace("__estimator__estimator__", "__estimator__"): v for k, v in param_grid(kernel, grids).items()}
    reference = GridSearchCV(pipeline, grid, scoring="f1_macro", cv=StratifiedKFold(3, shuffle=True, random_state=2)).fit(X, y)
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"], rtol=0, atol=1e-12)
    assert {k.split("__")[-1]: v for k, v in fast.best_params_.items()} == {
        k.split("__")[-1]: v for k, v in reference.best_params_.items()
    }
    assert isinstance(fast.best_estimator_.named_steps["svm"], CalibratedClassifierCV)  # the saved model is calibrated


def test_probability_scored_search_is_gridsearchcv_of_the_calibrated_pipeline(data) -> None:
    X, y = data
    grids = {"C": [0.3, 3.0], "gamma": [0.02], "class_weight": ["balanced"]}
    search = grid_search(X, y, "rbf", grids, cv_folds=3, seed=5, scores="probabilities")
    reference = GridSearchCV(
        build_pipeline("rbf", 5, 3, False),
        param_grid("rbf", grids),
        scoring="f1_macro",
        cv=StratifiedKFold(3, shuffle=True, random_state=5),
    ).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"], rtol=0, atol=1e-12
    )
    assert search.best_params_ == reference.best_params_
    np.testing.assert_allclose(search.best_estimator_.predict_proba(X), reference.best_estimator_.predict_proba(X), atol=1e-10)
    with pytest.raises(ValueError, match="scores must be one of"):
        grid_search(X, y, "rbf", grids, cv_folds=3, scores="probability")


def test_grid_search_is_deterministic(data) -> None:
    X, y = data
    first = grid_search(X, y, "poly2", GRIDS, cv_folds=3, seed=4, n_jobs=2)
    second = grid_search(X, y, "poly2", GRIDS, cv_folds=3, seed=4, n_jobs=1)
    strip = lambda rows: [{k: v for k, v in r.items() if "time" not in k} for r in rows]  # noqa: E731
    assert strip(cv_results_table(first)) == strip(cv_results_table(second))
    assert first.best_params_ == second.best_params_
    np.testing.assert_array_equal(first.best_estimator_.predict_proba(X), second.best_estimator_.predict_proba(X))
    other = grid_search(X, y, "poly2", GRIDS, cv_folds=3, seed=5, n_jobs=1)
    assert strip(cv_results_table(other)) != strip(cv_results_table(first))


def test_cv_results_table(data, tmp_path) -> None:
    X, y = data
    search = grid_search(X, y, "linear", {"C": [0.1, 1.0], "class_weight": [None, "balanced"]}, cv_folds=3, seed=0)
    rows = cv_results_table(search)
    assert len(rows) == 4
    assert list(rows[0]) == [
        "C",
        "class_weight",
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "split0_test_score",
        "split1_test_score",
        "split2_test_score",
        "mean_fit_time",
        "std_fit_time",
        "mean_score_time",
        "std_score_time",
    ]
    expected = {(0.1, None), (0.1, "balanced"), (1.0, None), (1.0, "balanced")}
    assert {(r["C"], r["class_weight"]) for r in rows} == expected
    best = min(rows, key=lambda r: r["rank_test_score"])
    assert best["mean_test_score"] == pytest.approx(search.best_score_)
    for r in rows:
        assert r["mean_test_score"] == pytest.approx(np.mean([r[f"split{i}_test_score"] for i in range(3)]))
    json.dumps(rows)
    write_table(tmp_path / "cv.ecsv", rows, list(rows[0]))  # as rule search_grid writes it
    from astropy.table import Table

    table = Table.read(tmp_path / "cv.ecsv")
    assert table.colnames[:2] == ["C", "class_weight"] and len(table) == 4
    assert int(table["class_weight"].mask.sum()) == 2  # class_weight None: a masked (empty) cell
    assert table["C"].dtype.kind == "f" and table["rank_test_score"].dtype.kind == "i"


# ---- evaluation --------------------------------------------------------------------------------


class FixedModel:
    def __init__(self, predictions):
        self.predictions = np.asarray(predictions)

    def predict(self, X):
        return self.predictions


def test_evaluate_known_numbers() -> None:
    truth = ["type1", "type1", "type1", "type2", "type2", "intermediate"]
    predicted = ["type1", "type1", "type2", "type2", "type2", "type1"]
    m = evaluate(FixedModel(predicted), np.zeros((6, 3)), truth, ("type1", "type2", "intermediate"))
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.8) / 6)
    assert m["macro_precision"] == pytest.approx(4 / 9)
    assert m["macro_recall"] == pytest.approx(5 / 9)
    assert m["per_class"]["type2"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert m["per_class"]["intermediate"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    np.testing.assert_allclose(m["confusion_matrix_normalised"], [[2 / 3, 1 / 3, 0], [0, 1, 0], [1, 0, 0]])
    assert m["class_names"] == ["type1", "type2", "intermediate"]
    assert "intermediate" in m["classification_report"]
    assert json.loads(json.dumps(m)) == m


def test_evaluate_class_order_and_empty_rows() -> None:
    m = evaluate_predictions(["type2", "type2"], ["type2", "type1"], ["type2", "type1"])
    assert m["confusion_matrix"] == [[1, 1], [0, 0]]
    assert m["confusion_matrix_normalised"] == [[0.5, 0.5], [0.0, 0.0]]
    assert m["balanced_accuracy"] == 0.5
    with pytest.raises(ValueError, match="not in class_names"):
        evaluate_predictions(["type1"], ["intermediate"], ["type1", "type2"])


def test_evaluate_fitted_pipeline(data) -> None:
    X, y = data
    model = clone(build_pipeline("rbf", seed=0)).fit(X, y)
    m = evaluate(model, X, y, task_classes("multiclass"))
    assert m["accuracy"] == pytest.approx(np.mean(model.predict(X) == y))
    assert sum(map(sum, m["confusion_matrix"])) == y.size


def test_gram_kernel_refuses_kernel_values_that_overflow():
    # The search runs scikit-learn with assume_finite=True: the kernel step is what must notice.
    rows = np.random.default_rng(0).normal(size=(6, 4)) * 1e3
    step = GramKernel(kernel="poly", gamma=1e300, degree=3).fit(rows @ rows.T)
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="overflow"):
        step.transform(rows @ rows.T)
