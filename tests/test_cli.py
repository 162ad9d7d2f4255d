"""The ``skood`` command line and the benchmark's model cache key."""

import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator

import skood
from skood import datasets
from skood.__main__ import main
from skood.benchmark import cache_key, fit_cached, model_hash, source_hash
from skood.density import GlowDensity
from skood.detectors import LikelihoodRatioDetector

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK_OPTIONS = ("--quick", "--tasks", "--epochs", "--n-train", "--n-test", "--n-general",
                     "--n-lid", "--image-size", "--no-general", "--no-cache", "--no-plots",
                     "--data-home", "--out", "--results-dir", "--cache-dir")


def _run(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(list(args), capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


# -- command line -----------------------------------------------------------------------

def test_python_m_skood_help():
    res = _run(sys.executable, "-m", "skood", "--help")
    assert res.returncode == 0, res.stderr
    assert "benchmark" in res.stdout


def test_console_script_help():
    script = Path(sys.executable).parent / "skood"
    if not script.exists():
        pytest.skip("the skood console script is not installed in this environment")
    res = _run(str(script), "--help")
    assert res.returncode == 0, res.stderr
    assert "usage: skood" in res.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.split() == ["skood", skood.__version__]


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: skood" in capsys.readouterr().out


def test_benchmark_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in BENCHMARK_OPTIONS:
        assert option in out, option


def test_benchmarks_alias_is_skood_benchmark():
    res = _run(sys.executable, "-m", "benchmarks", "--help")
    assert res.returncode == 0, res.stderr
    assert "usage: skood benchmark" in res.stdout and "--results-dir" in res.stdout


def test_benchmark_command_writes_results(tmp_path, capsys):
    # The wiring of `skood benchmark` at a tiny budget (the runner itself is
    # tested in test_benchmark_runner.py).
    results = tmp_path / "res"
    assert main(["benchmark", "--quick", "--epochs", "1", "--n-lid", "20", "--no-plots",
                 "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert (results / "quick.md").exists() and (results / "quick.csv").exists()
    cached = sorted(p.name for p in (results / "cache").glob("*.joblib"))
    assert [name.rsplit("-", 1)[0] for name in cached] == ["digits-background",
                                                            "digits-density-of-states",
                                                            "digits-glow"]
    assert str(results / "quick.md") in out and str(results / "cache") in out
    assert "| digits | LOF (PCA) | classical |" in out


# -- cache key --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits_ood(random_state=0)


def _tiny_glow(shape, **kw):
    params = dict(n_levels=2, n_steps=1, hidden_channels=8, max_epochs=1, batch_size=64,
                  random_state=0)
    return GlowDensity(shape, **{**params, **kw})


@pytest.fixture(scope="module")
def general_flow(digits):
    return _tiny_glow(digits.input_shape).fit(digits.X_train[:256])


def test_cache_key_same_inputs_same_key(digits):
    X = digits.X_train[:100]
    key = cache_key(_tiny_glow(digits.input_shape), X)
    assert key == cache_key(_tiny_glow(digits.input_shape), X.copy())
    # Every parameter counts, and so does every training sample.
    assert key != cache_key(_tiny_glow(digits.input_shape, lr=2e-3), X)
    assert key != cache_key(_tiny_glow(digits.input_shape, logit_alpha=0.05), X)
    X2 = X.copy()
    X2[50, 10] ^= 1
    assert key != cache_key(_tiny_glow(digits.input_shape), X2)
    assert key != cache_key(PCA(), X)


def test_cache_key_covers_nested_and_array_params(digits, general_flow):
    X = digits.X_train[:100]
    ref = FrozenEstimator(general_flow)

    def ratio(flow_kw=None, **kw):
        return LikelihoodRatioDetector(_tiny_glow(digits.input_shape, **(flow_kw or {})),
                                       reference=ref, fine_tune=True, **kw)

    key = cache_key(ratio(), X)
    assert key == cache_key(ratio(), X)
    # A parameter of the inner flow (get_params(deep=True)).
    assert key != cache_key(ratio({"hidden_channels": 16}), X)
    # Array parameters enter by their contents.
    general = digits.X_train[:64]
    key_g = cache_key(ratio(general_data=general), X)
    assert key_g == cache_key(ratio(general_data=general.copy()), X)
    general2 = general.copy()
    general2[0, 0] ^= 1
    assert key_g != cache_key(ratio(general_data=general2), X)


def test_cache_key_follows_frozen_model_weights(digits, general_flow, tmp_path):
    X = digits.X_train[:100]

    def key_with(reference):
        return cache_key(LikelihoodRatioDetector(_tiny_glow(digits.input_shape),
                                                 reference=FrozenEstimator(reference)), X)

    key = key_with(general_flow)
    # A reloaded copy of the same fitted model gives the same key ...
    joblib.dump(general_flow, tmp_path / "gen.joblib")
    reloaded = joblib.load(tmp_path / "gen.joblib")
    assert model_hash(reloaded) == model_hash(general_flow)
    assert key_with(reloaded) == key
    # ... and so does a fresh process (torch pickles storages by memory address,
    # so a plain joblib.hash of the model would differ here).
    code = ("import joblib, sys; from skood.benchmark import model_hash; "
            "print(model_hash(joblib.load(sys.argv[1])))")
    res = _run(sys.executable, "-c", code, str(tmp_path / "gen.joblib"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == model_hash(general_flow)
    # Changed weights (a retrained general model) change the key of its dependents.
    with torch.no_grad():
        next(reloaded.net_.module_.parameters()).add_(1e-3)
    assert key_with(reloaded) != key


def test_source_hash(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    h = source_hash(pkg)
    assert h == source_hash(pkg)
    (pkg / "notes.txt").write_text("not code")
    assert source_hash(pkg) == h
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    assert source_hash(pkg) != h
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "sub" / "b.py").rename(pkg / "sub" / "c.py")
    assert source_hash(pkg) != h
    # The installed package is the default, and the key carries the source hash.
    assert source_hash() == source_hash(Path(skood.__file__).parent)
    X = np.zeros((4, 3))
    assert cache_key(PCA(), X, source="a") != cache_key(PCA(), X, source="b")


def test_fit_cached_reuses_only_identical_fits(tmp_path):
    X = np.random.RandomState(0).normal(size=(50, 4))
    logs = []
    first, _ = fit_cached(PCA(2), X, "pca", cache_dir=tmp_path, log=logs.append)
    again, _ = fit_cached(PCA(2), X, "pca", cache_dir=tmp_path, log=logs.append)
    assert any("loaded pca" in m for m in logs)
    np.testing.assert_array_equal(first.components_, again.components_)
    fit_cached(PCA(3), X, "pca", cache_dir=tmp_path, log=logs.append)
    assert len(list(tmp_path.glob("pca-*.joblib"))) == 2
    fit_cached(PCA(2), X, "pca", cache_dir=None, log=logs.append)
    assert len(list(tmp_path.glob("*.joblib"))) == 2
