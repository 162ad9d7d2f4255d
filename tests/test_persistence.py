"""skood.save / skood.load round trips every public estimator bit for bit, refuses what
it did not write, and pickle warns on version mismatches."""

import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

import skood
from skood.datasets import load_digits_images
from skood.density import GlowDensity, TabularFlowDensity
from skood.detectors import (
    DensityOfStatesDetector,
    InputComplexityDetector,
    KLDivergenceDetector,
    LastScaleDetector,
    LIDLikelihoodDetector,
    LikelihoodDetector,
    LikelihoodRatioDetector,
    TypicalityDetector,
)
from skood.exceptions import InconsistentVersionWarning
from skood.persistence import FORMAT_VERSION
from skood.statistics import FlowStatistics

_GLOW = dict(input_shape=(1, 8, 8), n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1,
             random_state=0)
_TAB = dict(n_layers=2, hidden_units=8, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, _ = load_digits_images()
    return X[:300], X[300:500], X[500:560]


@pytest.fixture(scope="module")
def glow(data):
    return GlowDensity(**_GLOW).fit(data[0])


@pytest.fixture(scope="module")
def vectors():
    X = np.random.RandomState(0).normal(size=(260, 4))
    return X[:200], X[200:240], X[240:]


def _image_estimators(glow):
    fz = FrozenEstimator(glow)
    return {
        "glow": glow,
        "glow_logit": GlowDensity(**_GLOW, logit_alpha=0.05),
        "frozen_glow": fz,
        "likelihood": LikelihoodDetector(fz),
        "last_scale": LastScaleDetector(fz),
        "ratio_background": LikelihoodRatioDetector(GlowDensity(**_GLOW), random_state=0),
        "input_complexity": InputComplexityDetector(fz, codec="png"),
        "typicality": TypicalityDetector(fz, n_bootstrap=50, random_state=0),
        "kl": KLDivergenceDetector(fz, n_bootstrap=50, random_state=0),
        "kl_all": KLDivergenceDetector(fz, pooling="all", n_bootstrap=50, random_state=0),
        "lid": LIDLikelihoodDetector(fz, method="fast", n_reference=30, n_calibration=8,
                                     random_state=0),
        "dos_gmm": DensityOfStatesDetector(fz, random_state=0),
        "dos_kde_knn": DensityOfStatesDetector(fz, density="kde", n_neighbors=3,
                                               random_state=0),
        "dos_ocsvm_latent": DensityOfStatesDetector(fz, density="ocsvm", n_neighbors=3,
                                                    neighbor_space="latent", random_state=0),
        "flow_statistics": FlowStatistics(fz),
    }


def _vector_estimators(vectors):
    general = vectors[2] * 3.0
    reference = FrozenEstimator(TabularFlowDensity(**_TAB).fit(general))
    est = {
        "tabular": TabularFlowDensity(**_TAB),
        "tabular_float64_early": TabularFlowDensity(**_TAB, dtype="float64",
                                                    early_stopping=True),
        "ratio_outlier_loss": LikelihoodRatioDetector(
            TabularFlowDensity(**_TAB), reference=reference, general_data=general,
            fine_tune=True, outlier_loss_weight=0.5, random_state=0),
        "kl_tabular": KLDivergenceDetector(TabularFlowDensity(**_TAB), n_bootstrap=50,
                                           random_state=0),
        "dos_input_knn": DensityOfStatesDetector(TabularFlowDensity(**_TAB), n_neighbors=3,
                                                 random_state=0),
        "dos_cross_fit": DensityOfStatesDetector(TabularFlowDensity(**_TAB), cross_fit=2,
                                                 random_state=0),
    }
    try:
        from skood.conformal import ConformalDetector
        from skood.model_selection import TunedThresholdDetectorCV
    except ImportError:  # pragma: no cover
        return est
    est["conformal"] = ConformalDetector(LikelihoodDetector(TabularFlowDensity(**_TAB)),
                                         random_state=0)
    est["tuned_threshold"] = TunedThresholdDetectorCV(
        LikelihoodDetector(TabularFlowDensity(**_TAB), random_state=0))
    return est


IMAGE_CASES = list(_image_estimators(None))
VECTOR_CASES = ["tabular", "tabular_float64_early", "ratio_outlier_loss", "kl_tabular",
                "dos_input_knn", "dos_cross_fit", "conformal", "tuned_threshold"]


def _outputs(est, X):
    """Everything an estimator computes for X, as a dict of arrays."""
    out = {}
    for name in ("score_samples", "decision_function", "predict", "transform"):
        if hasattr(est, name):
            out[name] = np.asarray(getattr(est, name)(X))
    if hasattr(est, "flow_pass"):
        p = est.flow_pass(X)
        out.update(log_prob_per_scale=p.log_prob_per_scale,
                   **{f"latent{i}": z for i, z in enumerate(p.latents_normalized)})
        out["sample"] = est.sample(3, random_state=0)
    if hasattr(est, "score_groups"):
        group = getattr(est, "min_group_size_", 1)
        out["groups"] = est.score_groups(X[:20], group_size=max(5, group))
        out["threshold7"] = np.float64(est.group_threshold(7))
    return out


def _roundtrip(est, tmp_path):
    path = tmp_path / "model.skood"
    skood.save(est, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same versions: no warning
        return skood.load(path)


def _check_identical(est, loaded, X):
    assert type(loaded) is type(est)
    a, b = _outputs(est, X), _outputs(loaded, X)
    assert sorted(a) == sorted(b) and a
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    params = {k: v for k, v in est.get_params(deep=False).items()
              if not hasattr(v, "get_params") and not isinstance(v, np.ndarray)}
    loaded_params = loaded.get_params(deep=False)
    assert {k: loaded_params[k] for k in params} == params


@pytest.mark.parametrize("name", IMAGE_CASES)
def test_roundtrip_image_estimators_bit_identical(name, glow, data, tmp_path):
    X_fit, X_cal, X_test = data
    est = _image_estimators(glow)[name]
    if not (name == "glow" or name == "frozen_glow"):
        est = est.fit(X_fit[:120] if "glow" in name or "ratio" in name else X_cal)
    _check_identical(est, _roundtrip(est, tmp_path), X_test)


@pytest.mark.parametrize("name", VECTOR_CASES)
def test_roundtrip_vector_estimators_bit_identical(name, vectors, tmp_path):
    est = _vector_estimators(vectors).get(name)
    if est is None:
        pytest.skip(f"{name} is not available")
    X_fit, _, X_test = vectors
    if name == "tuned_threshold":
        y = np.r_[np.ones(len(X_fit)), -np.ones(20)]
        est.fit(np.r_[X_fit, X_test[:20] * 4.0], y)
    else:
        est.fit(X_fit)
    _check_identical(est, _roundtrip(est, tmp_path), X_test)


def test_unfitted_estimator_roundtrips_its_parameters(tmp_path):
    est = LikelihoodRatioDetector(GlowDensity(**_GLOW, pixel_scale="unit"),
                                  reference="background", mutation_rate=0.3)
    loaded = _roundtrip(est, tmp_path)
    assert repr(loaded) == repr(est)
    assert loaded.get_params()["flow__pixel_scale"] == "unit"


def test_loaded_model_refits_like_the_original(vectors, tmp_path):
    est = TabularFlowDensity(**_TAB).fit(vectors[0])
    loaded = _roundtrip(est, tmp_path)
    np.testing.assert_array_equal(clone(loaded).fit(vectors[0]).score_samples(vectors[2]),
                                  est.score_samples(vectors[2]))


def test_load_leaves_the_global_torch_rng_alone(glow, tmp_path):
    skood.save(glow, tmp_path / "m.skood")
    before = torch.random.get_rng_state()
    skood.load(tmp_path / "m.skood")
    assert torch.equal(before, torch.random.get_rng_state())


def test_functions_cannot_be_saved(vectors, tmp_path):
    flow = TabularFlowDensity(**_TAB, auxiliary_loss=lambda module, n: 0.0)
    with pytest.raises(TypeError, match=r"auxiliary_loss.*function.*pickle"):
        skood.save(flow, tmp_path / "m.skood")


# -- what load refuses -----------------------------------------------------------------
def _rewrite(src, dst, edit):
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    doc = json.loads(meta["skood"])
    edit(doc)
    save_file(tensors, str(dst), metadata={"skood": json.dumps(doc)})


@pytest.fixture
def saved_detector(vectors, tmp_path):
    det = LikelihoodDetector(TabularFlowDensity(**_TAB)).fit(vectors[0])
    path = tmp_path / "det.skood"
    skood.save(det, path)
    return det, path


def test_unexpected_class_is_refused(saved_detector, tmp_path):
    _, path = saved_detector
    for name in ("os.system", "builtins.eval", "sklearn.pipeline.Pipeline"):
        def edit(doc, name=name):
            doc["estimator"]["params"]["__dict__"][0][1] = {
                "__object__": name, "state": {"__dict__": []}}
        _rewrite(path, tmp_path / "bad.skood", edit)
        with pytest.raises(ValueError, match=rf"Refusing to load.*{name}"):
            skood.load(tmp_path / "bad.skood")


def test_unknown_tags_are_refused(saved_detector, tmp_path):
    _, path = saved_detector
    _rewrite(path, tmp_path / "bad.skood",
             lambda doc: doc["estimator"]["state"]["__dict__"].append(
                 ["offset_", {"__reduce__": ["os.system", ["echo"]]}]))
    with pytest.raises(ValueError, match="Corrupt skood file: unexpected node"):
        skood.load(tmp_path / "bad.skood")


def test_pickle_payload_is_refused(saved_detector, tmp_path):
    det, _ = saved_detector
    path = tmp_path / "det.pkl"
    path.write_bytes(pickle.dumps(det))
    with pytest.raises(ValueError, match="not a skood file.*never unpickles"):
        skood.load(path)
    other = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="not a skood file"):
        skood.load(other)


def test_newer_format_is_refused_and_other_versions_warn(saved_detector, tmp_path):
    det, path = saved_detector

    def newer(doc):
        doc["format_version"] = FORMAT_VERSION + 1
    _rewrite(path, tmp_path / "new.skood", newer)
    with pytest.raises(ValueError, match=rf"format {FORMAT_VERSION + 1}, newer.*Upgrade"):
        skood.load(tmp_path / "new.skood")

    def older_libs(doc):
        doc["versions"].update({"skood": "0.0.1", "torch": "1.13.0"})
    _rewrite(path, tmp_path / "old.skood", older_libs)
    with pytest.warns(InconsistentVersionWarning, match=r"skood 0\.0\.1 \(now .*torch 1\.13"):
        loaded = skood.load(tmp_path / "old.skood")
    np.testing.assert_array_equal(loaded.score_samples(det.offset_ + np.zeros((3, 4))),
                                  det.score_samples(det.offset_ + np.zeros((3, 4))))


def test_model_saved_from_cuda_loads_on_cpu(vectors, tmp_path):
    flow = TabularFlowDensity(**_TAB).fit(vectors[0])
    expected = flow.score_samples(vectors[2])
    flow.device_ = torch.device("cuda")  # as a CUDA model records it; tensors go to the CPU
    skood.save(flow, tmp_path / "cuda.skood")
    flow.device_ = torch.device("cpu")
    if torch.cuda.is_available():
        loaded = skood.load(tmp_path / "cuda.skood")
        assert loaded.device_.type == "cuda"
    else:
        with pytest.warns(UserWarning, match="fitted on CUDA.*on the CPU"):
            loaded = skood.load(tmp_path / "cuda.skood")
        assert loaded.device_.type == "cpu"
        np.testing.assert_array_equal(loaded.score_samples(vectors[2]), expected)


# -- pickle and joblib -----------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda X: TabularFlowDensity(**_TAB).fit(X),
    lambda X: LikelihoodDetector(TabularFlowDensity(**_TAB)).fit(X),
])
def test_pickle_warns_on_a_skood_version_mismatch(vectors, make):
    est = make(vectors[0])
    payload = pickle.dumps(est)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = pickle.loads(payload)
    np.testing.assert_array_equal(same.score_samples(vectors[2]), est.score_samples(vectors[2]))
    version = skood.__version__.encode()
    assert payload.count(version) >= 1
    other = payload.replace(version, b"9.9.9"[: len(version)].ljust(len(version), b"9"))
    with pytest.warns(InconsistentVersionWarning, match=r"skood 9\.9\.9"):
        pickle.loads(other)
    assert "_skood_versions" not in vars(same)


def test_isolation_forest_trees_roundtrip_as_arrays(vectors):
    # A forest's trees are stored as their node arrays (no pickle) and rebuilt to the
    # same predictions; node fields of another scikit-learn are refused clearly.
    from sklearn.ensemble import IsolationForest

    from skood.utils._sklearn_compat import tree_from_state, tree_state
    X_fit, _, X_test = vectors
    forest = IsolationForest(n_estimators=5, random_state=0).fit(X_fit)
    for est in forest.estimators_:
        state = tree_state(est.tree_)
        assert all(isinstance(a, np.ndarray) and a.dtype.kind in "biuf"
                   for a in state["nodes"].values())
        rebuilt = tree_from_state(state)
        np.testing.assert_array_equal(rebuilt.predict(X_test.astype(np.float32)),
                                      est.tree_.predict(X_test.astype(np.float32)))
    state["nodes"].pop("missing_go_to_left")
    with pytest.raises(ValueError, match="node fields"):
        tree_from_state(state)
