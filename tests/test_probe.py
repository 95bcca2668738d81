"""Linear probes and saved heads (zoo/transfer/_probe.py, zoo/transfer/_head.py), on scikit-learn's digits."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import DatasetError, WeightsError, ZooError
from zoo.transfer._head import MAX_HEAD_BYTES, Head
from zoo.transfer._probe import (
    ProbeResult,
    ProbeRow,
    cross_validate,
    fit_head,
    probe_features,
)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, list[str]]:
    """1,797 8x8 digit images as 64 pixel features, labelled "0".."9"."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float32), [str(t) for t in data.target]


@pytest.fixture(scope="module")
def probed(digits: tuple[np.ndarray, list[str]]) -> ProbeResult:
    x, y = digits
    return probe_features({("pixels", "raw"): x, ("pixels", "first4"): x[:, :4]}, y, folds=5, seed=0)


def _sklearn_pipeline(x: np.ndarray, y: list[str]):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=0)).fit(x, y)


def _head(**changes) -> Head:
    fields = {
        "classes": ("a", "b", "c"),
        "mean": np.array([1.0, 2.0]),
        "scale": np.array([0.5, 2.0]),
        "weight": np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]),
        "bias": np.array([0.1, 0.0, -0.1]),
        "model": "resnet50@tv_in1k",
        "stage": "layer4",
        "pool": "avg",
        "scores": {"accuracy": 0.9, "folds": 5},
    }
    return Head(**(fields | changes))


# ---- cross-validation --------------------------------------------------------


def test_cross_validate_digits_is_accurate_and_deterministic(digits: tuple[np.ndarray, list[str]]) -> None:
    x, y = digits
    accuracy, macro_f1, seconds = cross_validate(x, y, folds=5, seed=0)
    assert len(accuracy) == len(macro_f1) == 5
    assert np.mean(accuracy) > 0.9 and np.mean(macro_f1) > 0.9
    assert min(accuracy) > 0.85
    assert seconds > 0
    again_accuracy, again_f1, _ = cross_validate(x, y, folds=5, seed=0)
    assert again_accuracy == accuracy and again_f1 == macro_f1
    # Another seed gives other folds, so (almost surely) other per-fold numbers.
    assert cross_validate(x, y, folds=5, seed=1)[0] != accuracy


def test_cross_validate_on_shuffled_labels_is_at_chance(digits: tuple[np.ndarray, list[str]]) -> None:
    x, y = digits
    shuffled = list(np.random.default_rng(0).permutation(y))
    accuracy, macro_f1, _ = cross_validate(x, shuffled, folds=5, seed=0)
    assert np.mean(accuracy) < 0.3 and np.mean(macro_f1) < 0.3


def test_one_class_is_refused(digits: tuple[np.ndarray, list[str]]) -> None:
    x, _ = digits
    with pytest.raises(DatasetError, match="at least 2 classes") as info:
        cross_validate(x[:50], ["7"] * 50, folds=5)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ZooError)
    with pytest.raises(DatasetError, match="at least 2 classes"):
        fit_head(x[:50], ["7"] * 50, model="m", stage="s", pool="avg")


def test_a_class_smaller_than_folds_is_refused(digits: tuple[np.ndarray, list[str]]) -> None:
    x, y = digits
    keep = [i for i, label in enumerate(y) if label != "3"] + [i for i, label in enumerate(y) if label == "3"][:2]
    with pytest.raises(ValueError, match="folds") as info:
        cross_validate(x[keep], [y[i] for i in keep], folds=5)
    assert isinstance(info.value, DatasetError)
    message = str(info.value)
    assert "'3' has 2" in message and "at least 5 examples of each class, or lower --folds" in message
    # The same data is fine with 2 folds.
    accuracy, _, _ = cross_validate(x[keep], [y[i] for i in keep], folds=2)
    assert np.mean(accuracy) > 0.85


def test_features_must_match_the_labels(digits: tuple[np.ndarray, list[str]]) -> None:
    x, y = digits
    with pytest.raises(DatasetError, match="one row per label"):
        cross_validate(x[:-1], y)
    bad = x.copy()
    bad[3, 5] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        cross_validate(bad, y)
    with pytest.raises(DatasetError, match="folds"):
        cross_validate(x, y, folds=1)


# ---- ranking cuts ------------------------------------------------------------


def test_probe_features_ranks_the_raw_pixels_first(probed: ProbeResult) -> None:
    assert [(r.model, r.stage) for r in probed.rows] == [("pixels", "raw"), ("pixels", "first4")]
    best = probed.best
    assert best.stage == "raw" and best.dims == 64 and best.n == 1797 and best.folds == 5
    assert best.accuracy > 0.9 and best.macro_f1 > 0.9 and 0 < best.accuracy_std < 0.05
    assert probed.rows[1].dims == 4 and probed.rows[1].accuracy < 0.5
    assert probed.labels == tuple(str(d) for d in range(10))
    table = probed.table()
    assert [row["best"] for row in table] == [True, False]
    assert table[0]["stage"] == "raw" and table[0]["accuracy"] == best.accuracy
    document = json.loads(json.dumps(probed.to_dict()))
    assert document["best"]["stage"] == "raw" and len(document["rows"]) == 2


def test_probe_features_scores_a_cut_as_cross_validate_does(
    digits: tuple[np.ndarray, list[str]], probed: ProbeResult
) -> None:
    x, y = digits
    accuracy, macro_f1, _ = cross_validate(x, y, folds=5, seed=0)
    assert probed.best.accuracy == pytest.approx(np.mean(accuracy), abs=0)
    assert probed.best.macro_f1_std == pytest.approx(np.std(macro_f1), abs=0)


def test_ties_break_by_width_then_name() -> None:
    # Three cuts that all separate the classes perfectly: the narrowest wins, then the name.
    x = np.concatenate([np.zeros((10, 2)), np.ones((10, 2))]) + np.linspace(0, 0.01, 20)[:, None]
    y = ["a"] * 10 + ["b"] * 10
    wide = np.concatenate([x, x], axis=1)
    result = probe_features({("m", "wide"): wide, ("m", "z-narrow"): x, ("m", "a-narrow"): x}, y, folds=2)
    assert [r.stage for r in result.rows] == ["a-narrow", "z-narrow", "wide"]
    assert all(r.accuracy == 1.0 for r in result.rows)
    assert [r["best"] for r in result.table()] == [True, False, False]
    assert isinstance(result.best, ProbeRow) and result.best.to_dict()["dims"] == 2


# ---- the head ------------------------------------------------------------------


def test_head_reproduces_sklearn_multiclass(digits: tuple[np.ndarray, list[str]], probed: ProbeResult) -> None:
    x, y = digits
    head = fit_head(x, y, model="pixels", stage="raw", pool="none", seed=0, scores=probed.best)
    expected = _sklearn_pipeline(x, y)
    assert head.classes == tuple(expected.classes_) == tuple(str(d) for d in range(10))
    assert head.weight.shape == (10, 64) and head.bias.shape == (10,)
    np.testing.assert_allclose(head.predict_proba(x), expected.predict_proba(x), atol=1e-5)
    assert head.predict(x) == list(expected.predict(x))
    weight, bias = head.folded()
    np.testing.assert_allclose(x.astype(np.float64) @ weight.T + bias, head.logits(x), atol=1e-8)
    assert head.scores["accuracy"] == probed.best.accuracy and head.scores["folds"] == 5


def test_head_reproduces_sklearn_binary(digits: tuple[np.ndarray, list[str]]) -> None:
    x, y = digits
    keep = [i for i, label in enumerate(y) if label in ("0", "1")]
    xb, yb = x[keep], [y[i] for i in keep]
    head = fit_head(xb, yb, model="pixels", stage="raw", pool="none")
    expected = _sklearn_pipeline(xb, yb)
    assert expected[-1].coef_.shape == (1, 64)  # what the head has to expand
    assert head.classes == ("0", "1") and head.weight.shape == (2, 64)
    # Hold-out-like rows: digits of other classes give probabilities away from 0 and 1 too.
    np.testing.assert_allclose(head.predict_proba(xb), expected.predict_proba(xb), atol=1e-5)
    np.testing.assert_allclose(head.predict_proba(x), expected.predict_proba(x), atol=1e-5)
    weight, bias = head.folded()
    np.testing.assert_allclose(x.astype(np.float64) @ weight.T + bias, head.logits(x), atol=1e-8)
    assert head.scores == {}


def test_numerically_dead_features_are_left_unscaled(digits: tuple[np.ndarray, list[str]]) -> None:
    """A feature of magnitude 1e-32 (all-MiniLM-L6-v2 has two) must not become the head's loudest input."""
    x, y = digits
    x = x[:, :16].astype(np.float32)
    rng = np.random.default_rng(0)
    dead = np.concatenate([x, rng.uniform(0, 2e-32, (len(x), 1)), rng.uniform(0, 1e-8, (len(x), 1))], axis=1).astype(np.float32)
    head = fit_head(dead, y, model="pixels", stage="raw", pool="none")
    assert (head.scale[-2:] == 1.0).all() and (head.scale[:16] != 1.0).any()
    # Another runtime's rounding (1e-4 here, far less than int8's) in the dead features changes no prediction.
    moved = dead.copy()
    moved[:, -2:] += 1e-4
    np.testing.assert_allclose(head.predict_proba(moved), head.predict_proba(dead), atol=1e-3)
    # And the head's choices are those of the head fitted without the dead features.
    alive = fit_head(x, y, model="pixels", stage="raw", pool="none")
    assert (np.asarray(head.predict(dead)) == np.asarray(alive.predict(x))).mean() > 0.99


def test_head_checks_the_feature_width(digits: tuple[np.ndarray, list[str]]) -> None:
    x, y = digits
    head = fit_head(x[:, :8], y, model="pixels", stage="raw", pool="none")
    with pytest.raises(DatasetError, match=r"expects \(N, 8\)"):
        head.predict(x)


def test_predict_proba_is_stable_for_huge_logits() -> None:
    head = _head(weight=np.array([[1e4, 0.0], [0.0, 1e4], [0.0, 0.0]]))
    proba = head.predict_proba(np.array([[100.0, -100.0], [-100.0, 100.0]]))
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert head.predict(np.array([[100.0, -100.0], [-100.0, 100.0]])) == ["a", "b"]


def test_an_inconsistent_head_cannot_be_built() -> None:
    with pytest.raises(WeightsError, match="3 classes, 3 weight rows and 2 biases"):
        _head(bias=np.zeros(2))
    with pytest.raises(WeightsError, match="NaN"):
        _head(mean=np.array([np.nan, 0.0]))
    with pytest.raises(WeightsError, match="scale"):
        _head(scale=np.array([0.0, 1.0]))


# ---- saving and loading ----------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path, digits: tuple[np.ndarray, list[str]], probed: ProbeResult) -> None:
    from safetensors import safe_open

    x, y = digits
    # Classes whose sorted order differs from first-seen order, to check the order is kept.
    names = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four"}
    keep = [i for i, label in enumerate(y) if label in names]
    head = fit_head(x[keep], [names[y[i]] for i in keep], model="pixels", stage="raw", pool="none", scores=probed.best)
    path = head.save(tmp_path / "heads" / "digits.safetensors")
    assert path == tmp_path / "heads" / "digits.safetensors"
    assert os.listdir(path.parent) == ["digits.safetensors"]  # no temp file left behind
    assert not path.read_bytes().startswith(b"\x80")
    with safe_open(str(path), framework="numpy") as f:
        assert sorted(f.keys()) == ["bias", "mean", "scale", "weight"]
        assert f.metadata()["format"] == "zoo.head" and f.metadata()["format_version"] == "1"
        assert f.get_tensor("weight").dtype == np.float32

    loaded = Head.load(path)
    assert loaded.classes == head.classes == ("four", "one", "three", "two", "zero")
    for name in ("mean", "scale", "weight", "bias"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(head, name))
    assert (loaded.model, loaded.stage, loaded.pool) == ("pixels", "raw", "none")
    assert loaded.scores == head.scores == probed.best.scores()
    np.testing.assert_array_equal(loaded.predict_proba(x), head.predict_proba(x))


def _resave(path: Path, dest: Path, *, tensors: dict | None = None, metadata: dict | None = None) -> Path:
    """Writes a copy of a head file with some tensors or metadata replaced (a tampered file)."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(path), framework="numpy") as f:
        original = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        meta = dict(f.metadata())
    save_file(original | (tensors or {}), str(dest), metadata=meta | (metadata or {}))
    return dest


def test_tampered_files_are_refused(tmp_path: Path) -> None:
    path = _head().save(tmp_path / "head.safetensors")
    assert Head.load(_resave(path, tmp_path / "same.safetensors")).classes == ("a", "b", "c")

    cases = {
        "extra weight row": (
            {"tensors": {"weight": np.ones((4, 2), np.float32)}},
            "3 classes, 4 weight rows and 3 biases",
        ),
        "weight columns": ({"tensors": {"weight": np.ones((3, 5), np.float32)}}, "weight has 5 columns"),
        "format": ({"metadata": {"format": "something.else"}}, "not a zoo head"),
        "version": ({"metadata": {"format_version": "2"}}, "format version '2'"),
        "classes": ({"metadata": {"classes": json.dumps(["a", "b"])}}, "2 classes, 3 weight rows"),
        "classes json": ({"metadata": {"classes": "[a, b"}}, "not valid JSON"),
        "nan": ({"tensors": {"bias": np.array([0.0, np.nan, 0.0], np.float32)}}, "NaN"),
        "float64": ({"tensors": {"mean": np.zeros(2, np.float64)}}, "float64"),
    }
    for case, (change, message) in cases.items():
        bad = _resave(path, tmp_path / f"{case}.safetensors", **change)
        with pytest.raises(WeightsError, match=message) as info:
            Head.load(bad)
        assert "zoo probe --save-head" in str(info.value), case


def test_missing_tensor_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "partial.safetensors"
    save_file(
        {"mean": np.zeros(2, np.float32), "weight": np.zeros((2, 2), np.float32)},
        str(path),
        metadata={"format": "zoo.head"},
    )
    with pytest.raises(WeightsError, match="a head holds exactly"):
        Head.load(path)


def test_a_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "head.safetensors"
    path.write_bytes(pickle.dumps({"weight": Trap()}))
    with pytest.raises(WeightsError, match="not a safetensors file.*pickle"):
        Head.load(path)
    assert not marker.exists()
    # The trap does work when unpickled: the check above is meaningful.
    pickle.loads(path.read_bytes())
    assert marker.is_dir()


def test_other_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="Cannot read head"):
        Head.load(tmp_path / "missing.safetensors")
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"{}")
    with pytest.raises(WeightsError, match="too short"):
        Head.load(short)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        Head.load(garbage)
    huge = tmp_path / "huge.safetensors"
    with huge.open("wb") as f:
        f.truncate(MAX_HEAD_BYTES + 1)  # sparse: no gigabyte is written
    with pytest.raises(WeightsError, match="too large"):
        Head.load(huge)
