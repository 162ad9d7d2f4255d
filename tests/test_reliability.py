"""Input traps and faults: strided arrays, unrepresentable values, loose parameters,
ambiguous or rescaled pixels, unflattened images, Ctrl-C during fit."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator

from skood.datasets import load_digits_images
from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors import LIDLikelihoodDetector, LikelihoodDetector, LikelihoodRatioDetector
from skood.detectors.kl_divergence import KLDivergenceDetector
from skood.utils._sklearn_compat import InvalidParameterError

_TAB = dict(n_layers=1, hidden_units=8, max_epochs=1, random_state=0)
_GLOW = dict(input_shape=(1, 8, 8), n_levels=1, n_steps=1, hidden_channels=8, max_epochs=1,
             random_state=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()[0]


@pytest.fixture(scope="module")
def glow(digits):
    return GlowDensity(**_GLOW).fit(digits[:400])


@pytest.fixture(scope="module")
def vectors():
    return np.random.RandomState(0).normal(size=(120, 4))


@pytest.fixture(scope="module")
def tab(vectors):
    return TabularFlowDensity(**_TAB).fit(vectors)


# -- memory layouts ---------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["rows_reversed", "cols_reversed", "fortran", "strided"])
def test_any_memory_layout_fits_and_scores(vectors, tab, layout):
    X = vectors[:40]
    view = {
        "rows_reversed": lambda a: a[::-1],
        "cols_reversed": lambda a: a[:, ::-1],
        "fortran": np.asfortranarray,
        "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    }[layout](X)
    expected = {
        "rows_reversed": tab.score_samples(np.ascontiguousarray(X[::-1])),
        "cols_reversed": tab.score_samples(np.ascontiguousarray(X[:, ::-1])),
        "fortran": tab.score_samples(X),
        "strided": tab.score_samples(X),
    }[layout]
    np.testing.assert_array_equal(tab.score_samples(view), expected)
    fitted = TabularFlowDensity(**_TAB).fit(view)
    np.testing.assert_array_equal(fitted.score_samples(view),
                                  TabularFlowDensity(**_TAB).fit(view.copy()).score_samples(view))


def test_reversed_single_row_is_accepted(tab, vectors, glow, digits):
    # NumPy calls a reversed axis of length 1 contiguous; torch still refuses its stride.
    np.testing.assert_array_equal(tab.score_samples(vectors[:1][::-1]),
                                  tab.score_samples(vectors[:1]))
    np.testing.assert_array_equal(glow.score_samples(digits[:1][::-1].astype(float)),
                                  glow.score_samples(digits[:1]))


def test_reversed_views_through_a_detector(digits, glow):
    det = LikelihoodDetector(FrozenEstimator(glow)).fit(digits[400:600][::-1])
    X = digits[600:650]
    np.testing.assert_array_equal(det.score_samples(X[::-1]), det.score_samples(X)[::-1])
    assert det.score_samples(X[:, ::-1]).shape == (50,)


# -- values the compute dtype cannot hold -----------------------------------------------
def test_values_beyond_float32_are_refused_before_training_and_scoring(vectors, tab):
    X = vectors.copy()
    X[3, 1] = 1e39
    with pytest.raises(ValueError, match=r"1e\+39.*dtype='float32'.*float64"):
        TabularFlowDensity(**_TAB).fit(X)
    with pytest.raises(ValueError, match=r"1e\+39.*dtype='float32'"):
        tab.score_samples(X)
    det = LikelihoodDetector(FrozenEstimator(tab)).fit(vectors)
    with pytest.raises(ValueError, match="dtype='float32'"):
        det.predict(X)
    # float64 models hold them: no error, finite scores.
    wide = TabularFlowDensity(**{**_TAB, "dtype": "float64"}).fit(vectors)
    assert np.isfinite(wide.score_samples(X[:2])).all()


def test_scores_that_overflow_are_an_error_not_nan(tab, vectors):
    X = vectors[:3].copy()
    X[1] = 1e20  # representable in float32, but its squared standardised value is not
    with pytest.raises(ValueError, match=r"not finite for 1 sample\(s\) \(first rows: \[1\]\)"):
        tab.score_samples(X)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(tab, vectors, value):
    X = vectors[:5].copy()
    X[2, 0] = value
    with pytest.raises(ValueError, match="NaN|infinity"):
        tab.score_samples(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        TabularFlowDensity(**_TAB).fit(X)


# -- parameters -------------------------------------------------------------------------
@pytest.mark.parametrize("est, name, value", [
    (TabularFlowDensity(), "max_epochs", True),
    (TabularFlowDensity(), "batch_size", False),
    (GlowDensity(), "n_levels", True),
    (LIDLikelihoodDetector(), "log_threshold", np.nan),
    (LIDLikelihoodDetector(), "log_threshold", np.inf),
    (KLDivergenceDetector(), "n_bootstrap", True),
])
def test_loose_parameters_are_refused(vectors, est, name, value):
    with pytest.raises(InvalidParameterError, match=name):
        est.set_params(**{name: value}).fit(vectors)


@pytest.mark.parametrize("shape", [(1, 8.7, 8), (1, 8, True), (1.0, 8, 8)])
def test_input_shape_needs_integers(digits, shape):
    with pytest.raises(ValueError, match="input_shape.*integer"):
        GlowDensity(**{**_GLOW, "input_shape": shape}).fit(digits[:20])


def test_numpy_integer_input_shape_is_accepted(digits):
    glow = GlowDensity(**{**_GLOW, "input_shape": tuple(np.array([1, 8, 8]))}).fit(digits[:20])
    assert glow.input_shape_ == (1, 8, 8)


# -- pixels -----------------------------------------------------------------------------
def test_auto_pixel_scale_warns_near_the_boundary(digits):
    X = digits[:30] / 255.0 * 1.05  # [0, 1] data with a slight overshoot
    with pytest.warns(UserWarning, match="pixel_scale='auto' read the training maximum 1.05"):
        glow = GlowDensity(**_GLOW).fit(X)
    assert glow.pixel_scale_ == "uint8"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert GlowDensity(**_GLOW).fit(digits[:30]).pixel_scale_ == "uint8"
        assert GlowDensity(**_GLOW).fit(digits[:30] / 255.0).pixel_scale_ == "unit"


def test_rescaled_pixels_warn_at_scoring(digits, glow):
    X = digits[600:700]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = glow.score_samples(X)
        glow.score_samples(X.astype(np.float64))  # the same pixels as floats
        glow.score_samples(np.zeros((2, 64)))  # black images
    assert glow.pixel_range_ == (0.0, 16.0 * 255.0 / 16.0)
    with pytest.warns(UserWarning, match=r"rescaled.*X \* 255"):
        wrong = glow.score_samples(X / 255.0)
    # The trap the warning is about: rescaled images look *more* normal.
    assert np.median(wrong) > np.median(right)


def test_unflattened_images_get_the_reshape_hint(digits, glow):
    images = digits[:10].reshape(10, 8, 8)
    for call in (glow.score_samples, GlowDensity(**_GLOW).fit,
                 LikelihoodDetector(FrozenEstimator(glow)).fit):
        with pytest.raises(ValueError, match=r"X\.reshape\(len\(X\), -1\)"):
            call(images)
    with pytest.raises(ValueError, match=r"4 dimensions.*transpose"):
        glow.score_samples(digits[:10].reshape(10, 1, 8, 8))


# -- KeyboardInterrupt ------------------------------------------------------------------
class _Interrupt:
    """An auxiliary loss that presses Ctrl-C on the given training step."""

    calls = 0

    def __init__(self, at=3):
        self.at = at

    def __call__(self, module, n_rows):
        type(self).calls += 1
        if type(self).calls == self.at:
            raise KeyboardInterrupt
        return 0.0


def test_keyboard_interrupt_propagates_and_leaves_the_density_unfitted(vectors):
    _Interrupt.calls = 0
    flow = TabularFlowDensity(**{**_TAB, "max_epochs": 5, "batch_size": 16},
                              auxiliary_loss=_Interrupt(at=3))
    with pytest.raises(KeyboardInterrupt):
        flow.fit(vectors)
    assert _Interrupt.calls == 3  # training stopped at the interrupted step
    with pytest.raises(NotFittedError):
        flow.score_samples(vectors)
    assert not [k for k in vars(flow) if k.endswith("_")]


def test_keyboard_interrupt_stops_a_detector_that_trains_several_models(vectors):
    _Interrupt.calls = 0
    flow = TabularFlowDensity(**{**_TAB, "max_epochs": 3, "batch_size": 16},
                              auxiliary_loss=_Interrupt(at=2))
    det = LikelihoodRatioDetector(flow, reference="background", random_state=0)
    with pytest.raises(KeyboardInterrupt):
        det.fit(vectors)
    assert _Interrupt.calls == 2  # the second model was never trained
    with pytest.raises(NotFittedError):
        det.score_samples(vectors)


# -- bounded memory of KL group thresholds ----------------------------------------------
def test_kl_group_threshold_memory_is_bounded_and_results_identical(digits):
    import tracemalloc

    import sklearn

    from skood.detectors.kl_divergence import _raw_statistic

    g = GlowDensity(**{**_GLOW, "n_levels": 2}).fit(digits[:200])
    det = KLDivergenceDetector(FrozenEstimator(g), random_state=0).fit(digits[200:700])
    stats = det.calibration_statistics_
    index = det._bootstrap_index(200)
    peaks, results = {}, {}
    for wm in (1024, 2):
        with sklearn.config_context(working_memory=wm):
            tracemalloc.start()
            results[wm] = (det.group_threshold(200),
                           _raw_statistic(stats, index, det.families_, det.statistic, det.reg))
            peaks[wm] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    assert results[1024][0] == results[2][0]
    np.testing.assert_array_equal(results[1024][1], results[2][1])
    # Unchunked, the 1000 bootstrap groups of 200 gathered 51 MiB at once; chunked by
    # working_memory (64 MiB at most), a few MiB.
    assert peaks[2] < 12, peaks
    assert peaks[1024] < 30, peaks


# -- checkpoints of long fits -----------------------------------------------------------
class _CrashAt:
    """An auxiliary loss of 0 that crashes (or presses Ctrl-C) on a given training step."""

    calls = 0

    def __init__(self, at, error=RuntimeError):
        self.at, self.error = at, error

    def __call__(self, module, n_rows):
        type(self).calls += 1
        if type(self).calls == self.at:
            raise self.error("simulated crash")
        return 0.0


@pytest.mark.parametrize("make, data, early", [
    (lambda **kw: TabularFlowDensity(**{**_TAB, "max_epochs": 4, "batch_size": 32}, **kw),
     "vectors", False),
    (lambda **kw: TabularFlowDensity(**{**_TAB, "max_epochs": 4, "batch_size": 32},
                                     early_stopping=True, n_iter_no_change=3, **kw),
     "vectors", True),
    (lambda **kw: GlowDensity(**{**_GLOW, "max_epochs": 3, "batch_size": 50}, **kw),
     "digits", False),
])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_fit_resumes_from_the_last_completed_epoch(make, data, early, error, vectors, digits,
                                                   tmp_path):
    X = vectors if data == "vectors" else digits[:200]
    steps_per_epoch = -(-int(len(X) * (0.9 if early else 1.0)) // (32 if data == "vectors" else 50))
    never = _CrashAt(at=0)
    reference = make(auxiliary_loss=never).fit(X)  # the uninterrupted fit

    _CrashAt.calls = 0
    crashing = make(auxiliary_loss=_CrashAt(at=2 * steps_per_epoch + 2, error=error),
                    checkpoint_dir=tmp_path)
    with pytest.raises(error):
        crashing.fit(X)  # crashes during the third epoch: two are checkpointed
    assert (tmp_path / "skood-checkpoint.pt").exists()
    assert not hasattr(crashing, "net_")

    _CrashAt.calls = 0
    resumed = make(auxiliary_loss=never, checkpoint_dir=tmp_path).fit(X)
    trained_steps = _CrashAt.calls
    assert trained_steps == (reference.n_iter_ - 2) * steps_per_epoch  # epochs 1-2 not redone
    assert resumed.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(
        [h["train_loss"] for h in resumed.history_], [h["train_loss"] for h in reference.history_])
    np.testing.assert_array_equal(resumed.score_samples(X[:50]), reference.score_samples(X[:50]))
    assert not (tmp_path / "skood-checkpoint.pt").exists()  # removed once the fit completed


def test_a_checkpoint_of_another_fit_is_ignored(vectors, tmp_path):
    _CrashAt.calls = 0
    with pytest.raises(RuntimeError):
        TabularFlowDensity(**{**_TAB, "max_epochs": 3, "batch_size": 32},
                           auxiliary_loss=_CrashAt(at=6), checkpoint_dir=tmp_path).fit(vectors)
    other = TabularFlowDensity(**{**_TAB, "max_epochs": 3, "batch_size": 32, "lr": 5e-4},
                               checkpoint_dir=tmp_path)
    with pytest.warns(UserWarning, match="belongs to another fit"):
        other.fit(vectors)
    fresh = TabularFlowDensity(**{**_TAB, "max_epochs": 3, "batch_size": 32, "lr": 5e-4})
    np.testing.assert_array_equal(other.score_samples(vectors), fresh.fit(vectors).score_samples(vectors))


def test_pandas_frames_are_accepted_and_feature_names_checked(vectors):
    pd = pytest.importorskip("pandas")
    cols = [f"x{i}" for i in range(vectors.shape[1])]
    frame = pd.DataFrame(vectors, columns=cols)
    det = LikelihoodDetector(TabularFlowDensity(**_TAB), random_state=0).fit(frame)
    np.testing.assert_array_equal(det.feature_names_in_, cols)
    np.testing.assert_array_equal(det.score_samples(frame), det.score_samples(vectors))
    with pytest.raises(ValueError, match="feature names"):
        det.score_samples(frame[cols[::-1]])
