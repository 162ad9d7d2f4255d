"""Property-based tests: whatever a pipeline feeds a fitted model, it either scores it
finitely or raises a ValueError/TypeError that names the problem.

A few tiny models are fitted once per module; hypothesis (seeded through
``derandomize=True``) generates shapes, dtypes, memory layouts, NaN/inf/huge values,
sparse matrices, lists, pandas frames (when pandas is installed) and group
specifications, and only the validation and scoring paths run per example.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skood.datasets import load_digits_images  # noqa: E402
from skood.density import GlowDensity, TabularFlowDensity  # noqa: E402
from skood.detectors import (  # noqa: E402
    DensityOfStatesDetector,
    InputComplexityDetector,
    KLDivergenceDetector,
    LastScaleDetector,
    LikelihoodDetector,
    TypicalityDetector,
)

try:
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is optional
    pd = None

N_EXAMPLES = 220  # per test; 5 tests: > 1,000 generated inputs per run
FUZZ = settings(max_examples=N_EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Words an error about the input must contain: what is wrong with it.
PROBLEM = re.compile(
    r"NaN|infinity|finite|dtype|feature|sparse|reshape|dimension|sample|complex|Complex|"
    r"Pixel|group|string|convert|numeric|2D array|1D array|divide|indices|shape|Empty|"
    r"label|integer",
)
N_TAB, N_GLOW = 4, 64


@pytest.fixture(scope="module")
def models():
    X_img, _ = load_digits_images()
    glow = GlowDensity((1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
                       random_state=0).fit(X_img[:200])
    X_tab = np.random.RandomState(0).normal(size=(200, N_TAB))
    tab = TabularFlowDensity(n_layers=2, hidden_units=8, max_epochs=1, random_state=0).fit(X_tab)
    fg, ft = FrozenEstimator(glow), FrozenEstimator(tab)
    cal_img, cal_tab = X_img[200:400], X_tab[:100] + 0.1
    tabular = {
        "tab": tab,
        "tab_likelihood": LikelihoodDetector(ft).fit(cal_tab),
        "tab_kl": KLDivergenceDetector(ft, n_bootstrap=30, random_state=0).fit(cal_tab),
        "tab_typicality": TypicalityDetector(ft, n_bootstrap=30, random_state=0).fit(cal_tab),
        "tab_dos": DensityOfStatesDetector(ft, n_neighbors=3, random_state=0).fit(cal_tab),
    }
    images = {
        "glow": glow,
        "glow_last_scale": LastScaleDetector(fg).fit(cal_img),
        "glow_kl": KLDivergenceDetector(fg, n_bootstrap=30, random_state=0).fit(cal_img),
        "glow_complexity": InputComplexityDetector(fg, codec="png").fit(cal_img),
    }
    return {"tabular": tabular, "images": images,
            "valid": {"tabular": X_tab[100:110], "images": X_img[400:410]}}


# -- strategies --------------------------------------------------------------------
_DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128",
           "object_str"]
_VALUES = st.one_of(
    st.floats(-5, 5), st.floats(0, 255), st.sampled_from([np.nan, np.inf, -np.inf]),
    st.sampled_from([1e39, -1e39, 1e300, 3e38, 1e20, -1e6, 256.0, -1.0, 0.5, 1e-300]),
)


@st.composite
def inputs(draw, n_features):
    """An input a pipeline might produce: mostly well-formed, with one or two defects."""
    n = draw(st.integers(0, 6))
    d = draw(st.sampled_from([n_features, n_features, n_features, n_features - 1,
                              n_features + 1, 1]))
    base = np.asarray(draw(st.lists(st.floats(0, 16), min_size=n * d, max_size=n * d)),
                      dtype=np.float64).reshape(n, d)
    if n and draw(st.booleans()):  # poke special values into a few cells
        for _ in range(draw(st.integers(1, 3))):
            base[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = draw(_VALUES)
    dtype = draw(st.sampled_from(_DTYPES))
    with np.errstate(all="ignore"):
        if dtype == "object_str":
            X = base.astype(object)
            if n:
                X[0, 0] = draw(st.sampled_from(["a", "1.5", ""]))
        elif dtype in ("int64", "int8", "uint8", "bool"):
            X = np.nan_to_num(base, nan=0, posinf=0, neginf=0).clip(-100, 100).astype(dtype)
        else:
            X = base.astype(dtype)
    layout = draw(st.sampled_from(["c", "f", "rows_rev", "cols_rev", "strided", "3d", "1d",
                                   "list", "sparse", "pandas"]))
    if layout == "f":
        X = np.asfortranarray(X)
    elif layout == "rows_rev":
        X = X[::-1]
    elif layout == "cols_rev":
        X = X[:, ::-1]
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    elif layout == "3d":
        X = X.reshape(n, d, 1)
    elif layout == "1d":
        X = X.ravel()
    elif layout == "list":
        X = X.tolist()
    elif layout == "sparse" and dtype not in ("object_str", "float16"):
        X = sp.csr_matrix(X)
    elif layout == "pandas" and pd is not None:
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(d)])
    return X


def _check(call, n_rows):
    """``call()`` returns finite scores of n_rows rows, or raises a clear error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warnings are allowed (e.g. rescaled pixels)
            out = np.asarray(call())
    except (ValueError, TypeError) as exc:
        assert PROBLEM.search(str(exc)), f"unclear error: {type(exc).__name__}: {exc}"
        return "error"
    assert out.dtype.kind in "fiu", out.dtype
    if n_rows is not None:
        assert out.shape[0] == n_rows, (out.shape, n_rows)
    assert np.isfinite(out).all(), out
    return "scored"


def _rows(X):
    return X.shape[0] if hasattr(X, "shape") and len(X.shape) == 2 else None


# -- the properties ----------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_tabular_models_score_finitely_or_refuse_clearly(models, data):
    X = data.draw(inputs(N_TAB))
    name = data.draw(st.sampled_from(sorted(models["tabular"])))
    method = data.draw(st.sampled_from(["score_samples", "predict", "decision_function"]))
    est = models["tabular"][name]
    if not hasattr(est, method):
        method = "score_samples"
    _check(lambda: getattr(est, method)(X), _rows(X))


@FUZZ
@given(data=st.data())
def test_image_models_score_finitely_or_refuse_clearly(models, data):
    X = data.draw(inputs(N_GLOW))
    name = data.draw(st.sampled_from(sorted(models["images"])))
    est = models["images"][name]
    method = "score_samples" if name == "glow" else data.draw(
        st.sampled_from(["score_samples", "predict"]))
    _check(lambda: getattr(est, method)(X), _rows(X))


@FUZZ
@given(data=st.data())
def test_flow_pass_is_finite_or_refused(models, data):
    X = data.draw(inputs(N_TAB))
    flow = models["tabular"]["tab"]
    try:
        out = flow.flow_pass(X)
    except (ValueError, TypeError) as exc:
        assert PROBLEM.search(str(exc)), str(exc)
        return
    assert np.isfinite(out.log_prob).all()
    assert all(np.isfinite(z).all() for z in out.latents_normalized)


_GROUP_SIZES = st.one_of(st.integers(-2, 12), st.booleans(), st.floats(0, 6),
                         st.sampled_from([np.int64(2), "5", None]))


@st.composite
def group_specs(draw, n):
    kind = draw(st.sampled_from(["none", "labels", "index", "float_index", "empty", "3d"]))
    if kind == "none":
        return None
    if kind == "labels":
        size = draw(st.sampled_from([n, n, n - 1, n + 1]))
        return np.asarray(draw(st.lists(st.integers(0, 3), min_size=size, max_size=size)))
    if kind == "index":
        m = draw(st.integers(1, 6))
        rows = draw(st.integers(1, 4))
        flat = draw(st.lists(st.integers(-2, n + 2), min_size=m * rows, max_size=m * rows))
        return np.asarray(flat).reshape(rows, m)
    if kind == "float_index":
        return np.zeros((2, 3)) + 0.5
    if kind == "empty":
        return np.zeros((0, 5), dtype=int)
    return np.zeros((2, 2, 2), dtype=int)


@FUZZ
@given(data=st.data())
def test_group_specs_score_finitely_or_refuse_clearly(models, data):
    which = data.draw(st.sampled_from(["tabular", "images"]))
    names = [k for k in models[which] if k not in ("tab", "glow")]
    est = models[which][data.draw(st.sampled_from(sorted(names)))]
    X = models["valid"][which]
    groups = data.draw(group_specs(len(X)))
    size = data.draw(_GROUP_SIZES)
    method = data.draw(st.sampled_from(["score_groups", "predict_groups"]))
    _check(lambda: getattr(est, method)(X, groups=groups, group_size=size), None)


@FUZZ
@given(size=_GROUP_SIZES, which=st.sampled_from(["tab_kl", "tab_typicality", "tab_likelihood"]))
def test_group_thresholds_are_finite_or_refused(models, size, which):
    est = models["tabular"][which]
    _check(lambda: [est.group_threshold(size)], 1)


def test_the_fuzzed_inputs_cover_both_outcomes(models):
    """The generators are not degenerate: some inputs score, some are refused."""
    outcomes = []

    @settings(max_examples=60, derandomize=True, deadline=None, database=None)
    @given(X=inputs(N_TAB))
    def run(X):
        outcomes.append(_check(lambda: models["tabular"]["tab"].score_samples(X), _rows(X)))

    run()
    assert outcomes.count("scored") >= 5 and outcomes.count("error") >= 5, outcomes
