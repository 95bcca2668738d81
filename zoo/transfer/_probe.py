"""Linear probes: how well a model cut's features separate labelled classes.

A probe standardises the features and fits a logistic regression on them
(scikit-learn's ``StandardScaler`` + ``LogisticRegression``, default lbfgs
solver, multinomial for more than two classes). :func:`cross_validate` scores
one cut with stratified k-fold cross-validation; :func:`probe_features` scores
several cuts on the same labels and ranks them; :func:`fit_head` fits the probe
on all the data and returns it as a :class:`~zoo.transfer._head.Head`.

Design note: features are computed once per cut by the caller (the expensive
part is the network, not the probe) and reused for every fold. The folds are
the same for every cut (same labels, same seed), so cuts are compared on equal
terms. scikit-learn is imported inside the functions that need it.

Features whose spread is below :data:`DEAD_FEATURE` of the median feature's
are left unscaled (scale 1), as scikit-learn already does for exactly constant
ones. Such features are numerically dead: all-MiniLM-L6-v2's mean-pooled
``encoder.layer.5`` has two dimensions of magnitude 1e-32 and one of 1e-9.
Dividing them by their own spread turned rounding noise into the strongest
inputs of the head: any other runtime, and int8 in particular (whose errors
are ~1e-3 of the tensor's range), then moved them by 10^26 and flipped the
classifier's choices.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(4, 1, (20, 3))])
    >>> y = ["a"] * 20 + ["b"] * 20
    >>> result = probe_features({("m", "layer1"): x, ("m", "layer0"): x[:, :1]}, y, folds=4)
    >>> result.best.stage, result.best.accuracy
    ('layer1', 1.0)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from zoo.errors import DatasetError
from zoo.transfer._head import Head

__all__ = ["ProbeResult", "ProbeRow", "cross_validate", "fit_head", "probe", "probe_features"]


@dataclass(frozen=True)
class ProbeRow:
    """How one model cut scored under cross-validation.

    Attributes:
        model: The model id, e.g. ``resnet50@tv_in1k``.
        stage: The stage the model was cut at.
        dims: The feature width.
        accuracy: Mean accuracy over the folds.
        accuracy_std: Its standard deviation over the folds.
        macro_f1: Mean macro-averaged F1 over the folds.
        macro_f1_std: Its standard deviation over the folds.
        fit_seconds: Total wall time spent fitting the folds' probes.
        folds: The number of folds.
        n: The number of samples.
    """

    model: str
    stage: str
    dims: int
    accuracy: float
    accuracy_std: float
    macro_f1: float
    macro_f1_std: float
    fit_seconds: float
    folds: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Returns the row as a JSON-ready dict."""
        return asdict(self)

    def scores(self) -> dict[str, float]:
        """Returns the figures a saved :class:`Head` keeps about how it scored."""
        return {
            "accuracy": self.accuracy,
            "accuracy_std": self.accuracy_std,
            "macro_f1": self.macro_f1,
            "macro_f1_std": self.macro_f1_std,
            "folds": self.folds,
            "n": self.n,
        }


@dataclass(frozen=True)
class ProbeResult:
    """Every probed cut, best first.

    Attributes:
        rows: One row per ``(model, stage)``, sorted by accuracy (highest
            first), then macro-F1 (highest first), then width (smallest
            first), then model and stage name.
        labels: The distinct class labels, sorted.
    """

    rows: tuple[ProbeRow, ...]
    labels: tuple[str, ...]
    head: Any = None  # the saved Head's path, when probe(save_head=...) wrote one
    embed_seconds: dict[str, float] | None = None  # per model: the time to compute every stage's features

    @property
    def best(self) -> ProbeRow:
        """The best-scoring cut."""
        return self.rows[0]

    def table(self) -> list[dict[str, Any]]:
        """Returns the rows as dicts, in rank order, each with ``best`` true for the first only."""
        return [row.to_dict() | {"best": i == 0} for i, row in enumerate(self.rows)]

    def to_dict(self) -> dict[str, Any]:
        """Returns the result as a JSON-ready dict."""
        return {
            "labels": list(self.labels), "best": self.best.to_dict(), "rows": self.table(),
            "head": str(self.head) if self.head is not None else None, "embed_seconds": self.embed_seconds or {},
        }


def cross_validate(
    features: np.ndarray,
    labels: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    max_iter: int = 1000,
    C: float = 1.0,
) -> tuple[list[float], list[float], float]:
    """Scores a linear probe on features with stratified k-fold cross-validation.

    Args:
        features: ``(N, D)`` float features, one row per sample.
        labels: ``N`` class labels.
        folds: The number of folds (at least 2); every class needs at least
            this many samples.
        seed: Seeds the fold shuffle and the solver; the same seed gives the
            same numbers.
        max_iter: The logistic regression's iteration limit.
        C: The logistic regression's inverse regularisation strength.

    Returns:
        ``(accuracies, macro_f1s, fit_seconds)``: one accuracy and one
        macro-F1 per fold, and the total time spent fitting.

    Raises:
        DatasetError: When the features are not a finite ``(N, D)`` array
            matching the labels, when there are fewer than 2 classes, or when
            a class has fewer samples than ``folds``.
    """
    x = _check_features(features, len(labels))
    y = _check_labels(labels, folds=folds)
    return _cross_validate(x, y, folds=folds, seed=seed, max_iter=max_iter, C=C)


def probe_features(
    features_by_cut: Mapping[tuple[str, str], np.ndarray],
    labels: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    max_iter: int = 1000,
    C: float = 1.0,
) -> ProbeResult:
    """Scores a linear probe on each cut's features and ranks the cuts.

    Args:
        features_by_cut: ``(model, stage) -> (N, D)`` features, rows in the
            order of ``labels``.
        labels: ``N`` class labels.
        folds: The number of folds (see :func:`cross_validate`).
        seed: Seeds the folds and the solver; every cut sees the same folds.
        max_iter: The logistic regression's iteration limit.
        C: The logistic regression's inverse regularisation strength.

    Returns:
        A :class:`ProbeResult`, best cut first.

    Raises:
        DatasetError: When there is no cut, or as :func:`cross_validate`.
    """
    if not features_by_cut:
        raise DatasetError("No features to probe: give at least one (model, stage) cut.", field="features")
    y = _check_labels(labels, folds=folds)
    rows = []
    for (model, stage), features in features_by_cut.items():
        x = _check_features(features, len(y), where=f"{model} at {stage}")
        accuracy, macro_f1, seconds = _cross_validate(x, y, folds=folds, seed=seed, max_iter=max_iter, C=C)
        rows.append(
            ProbeRow(
                model=model,
                stage=stage,
                dims=int(x.shape[1]),
                accuracy=float(np.mean(accuracy)),
                accuracy_std=float(np.std(accuracy)),
                macro_f1=float(np.mean(macro_f1)),
                macro_f1_std=float(np.std(macro_f1)),
                fit_seconds=seconds,
                folds=folds,
                n=len(y),
            )
        )
    rows.sort(key=lambda r: (-r.accuracy, -r.macro_f1, r.dims, r.model, r.stage))
    return ProbeResult(rows=tuple(rows), labels=tuple(sorted(set(y.tolist()))))


def fit_head(
    features: np.ndarray,
    labels: Sequence[str],
    *,
    model: str,
    stage: str,
    pool: str,
    seed: int = 0,
    scores: ProbeRow | None = None,
    max_iter: int = 1000,
    C: float = 1.0,
) -> Head:
    """Fits the probe on all the data and returns it as a :class:`Head`.

    Args:
        features: ``(N, D)`` float features.
        labels: ``N`` class labels (at least 2 distinct).
        model: The model id the features came from.
        stage: The stage they were cut at.
        pool: How the stage output was pooled.
        seed: Seeds the solver.
        scores: The cut's cross-validation row, kept in the head's ``scores``.
        max_iter: The logistic regression's iteration limit.
        C: The logistic regression's inverse regularisation strength.

    Returns:
        A head whose :meth:`~Head.predict_proba` equals the fitted pipeline's.

    Raises:
        DatasetError: When the features do not match the labels or there are
            fewer than 2 classes.
    """
    x = _check_features(features, len(labels))
    y = _check_labels(labels, folds=None)
    pipeline = _pipeline(seed=seed, max_iter=max_iter, C=C).fit(x, y)
    scaler, classifier = pipeline[0], pipeline[-1]
    weight = np.asarray(classifier.coef_, dtype=np.float64)
    bias = np.asarray(classifier.intercept_, dtype=np.float64)
    if weight.shape[0] == 1:
        # Binary: sklearn keeps one row w with P(classes_[1]) = sigmoid(x.w + b).
        # softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)], so rows [0, w] are exact.
        weight = np.concatenate([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return Head(
        classes=tuple(str(c) for c in classifier.classes_),
        mean=scaler.mean_,
        scale=scaler.scale_,
        weight=weight,
        bias=bias,
        model=model,
        stage=stage,
        pool=pool,
        scores=scores.scores() if scores is not None else {},
    )


DEAD_FEATURE = 1e-4  # a feature's spread below this fraction of the median feature's is rounding noise, kept unscaled


def _pipeline(*, seed: int, max_iter: int, C: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    class _Scaler(StandardScaler):
        """StandardScaler that leaves numerically dead features unscaled (see the module docstring)."""

        def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:  # noqa: N803 (scikit-learn's names)
            super().fit(X, y, sample_weight)
            if self.scale_ is not None and self.scale_.size:
                self.scale_ = np.where(self.scale_ < DEAD_FEATURE * float(np.median(self.scale_)), 1.0, self.scale_)
            return self

    return make_pipeline(_Scaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def _cross_validate(
    x: np.ndarray, y: np.ndarray, *, folds: int, seed: int, max_iter: int, C: float
) -> tuple[list[float], list[float], float]:
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    accuracies: list[float] = []
    macro_f1s: list[float] = []
    seconds = 0.0
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y):
        pipeline = _pipeline(seed=seed, max_iter=max_iter, C=C)
        start = time.perf_counter()
        pipeline.fit(x[train], y[train])
        seconds += time.perf_counter() - start
        predicted = pipeline.predict(x[test])
        accuracies.append(float(accuracy_score(y[test], predicted)))
        macro_f1s.append(float(f1_score(y[test], predicted, average="macro")))
    return accuracies, macro_f1s, seconds


def _check_features(features: Any, n: int, *, where: str = "") -> np.ndarray:
    x = np.asarray(features)
    at = f" ({where})" if where else ""
    if x.ndim != 2 or x.shape[0] != n or x.shape[1] == 0:
        raise DatasetError(
            f"Features{at} have shape {x.shape}, expected (N, D) with N = {n}, one row per label; "
            "pool each sample's features into one vector.",
            field="features",
        )
    if x.dtype.kind not in "fiu":
        raise DatasetError(f"Features{at} are {x.dtype}, expected float numbers.", field="features")
    if not np.isfinite(x).all():
        raise DatasetError(
            f"Features{at} hold NaN or infinite values; check the images and the model's output.", field="features"
        )
    return x


def _check_labels(labels: Sequence[str], *, folds: int | None) -> np.ndarray:
    """Checks the labels suit ``folds``-fold cross-validation (``folds=None``: a plain fit); returns them as an array."""
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2):
        raise DatasetError(f"--folds must be a whole number of at least 2, got {folds!r}.", field="folds")
    y = np.asarray([str(label) for label in labels])
    counts = Counter(y.tolist())
    if len(counts) < 2:
        only = f" (only {next(iter(counts))!r})" if counts else ""
        raise DatasetError(
            f"A probe needs at least 2 classes, found {len(counts)}{only}; give examples of at least 2 classes.",
            field="labels",
        )
    small = sorted((count, name) for name, count in counts.items() if folds is not None and count < folds)
    if small:
        listed = ", ".join(f"{name!r} has {count}" for count, name in small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise DatasetError(
            f"Too few examples for {folds}-fold cross-validation: class {listed}{more}. "
            f"Give at least {folds} examples of each class, or lower --folds.",
            field="labels",
        )
    return y


def probe(
    source: Any,
    models: Sequence[str] | str,
    *,
    stages: str | Sequence[str] = "all",
    folds: int = 5,
    pool: str | None = None,
    runtime: str = "onnx",
    batch_size: int = 32,
    threads: int | None = None,
    seed: int = 0,
    save_head: Any = None,
    text_field: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    registries: Sequence[Any] | None = None,
    offline: bool | None = None,
    progress: Any = None,
) -> ProbeResult:
    """Finds which backbone and cut separate a labelled dataset best, with a linear probe.

    Each model's stages are computed in one pass (one export with an output
    per stage), pooled, and probed with the same stratified folds.

    Args:
        source: A labelled dataset (an ImageFolder layout, or a text file with
            ``label_field``), as for :func:`zoo.embed`.
        models: Model ids.
        stages: ``"all"`` (every main stage), ``"last"`` (the whole trunk), or stage names.
        folds, seed: Cross-validation (see :func:`cross_validate`).
        pool, runtime, batch_size, threads: As for :func:`zoo.embed`.
        save_head: A ``.safetensors`` path: fit the best cut's probe on all
            the data and save it there (:class:`~zoo.transfer._head.Head`),
            for ``zoo export --head``.
        text_field, label_field, id_field, registries, offline, progress: As for :func:`zoo.embed`.

    Returns:
        A :class:`ProbeResult`, best first (``head`` is the saved path).

    Raises:
        DatasetError: Unlabelled items, too few examples per class, or unreadable data.
    """
    from zoo.datasets import read_dataset
    from zoo.features import stages as model_stages
    from zoo.transfer._embed import check_modality
    from zoo.transfer._runtime import encoder_for

    dataset = read_dataset(source, text_field=text_field, label_field=label_field, id_field=id_field)
    unlabelled = [i.id for i in dataset.items if i.label is None]
    if unlabelled:
        raise DatasetError(
            f"{dataset.root}: {len(unlabelled)} item(s) have no label (first: {unlabelled[0]}); a probe needs labels: "
            "an ImageFolder layout (root/<label>/...) or --label-field",
            path=dataset.root, field="label",
        )
    features: dict[tuple[str, str], np.ndarray] = {}
    embed_seconds: dict[str, float] = {}
    kept_labels: list[str] | None = None
    encoders = {}
    for model in [models] if isinstance(models, str) else list(models):
        if stages == "all":
            until: Any = [s.name for s in model_stages(model, registries=registries)]
        elif stages == "last":
            until = None
        else:
            until = [stages] if isinstance(stages, str) else list(stages)
        # sentence=False: a head is exported with the plain pooling only (no normalization, no prompt).
        encoder = encoder_for(
            model, until, pool_=pool, runtime=runtime, threads=threads, registries=registries, offline=offline, progress=progress,
            sentence=False,
        )
        check_modality(encoder, dataset)
        encoders[encoder.info.id] = encoder
        start = time.perf_counter()
        per_stage: dict[str, list[np.ndarray]] = {s: [] for s in encoder.stages}
        labels: list[str] = []
        done = 0
        for batch in dataset.batches(batch_size):
            encoded = encoder.encode(batch)
            for stage, vectors in encoded.vectors.items():
                per_stage[stage].append(vectors)
            labels += [str(i.label) for i in encoded.items]
            done += len(batch)
            if progress is not None:
                progress({"event": "progress", "model": encoder.info.id, "done": done, "total": len(dataset)})
        if kept_labels is not None and labels != kept_labels:
            raise DatasetError(f"{dataset.root}: models skipped different items; fix or remove the unreadable files", path=dataset.root)
        kept_labels = labels
        embed_seconds[encoder.info.id] = time.perf_counter() - start
        for stage, parts in per_stage.items():
            features[(encoder.info.id, stage)] = np.concatenate(parts)
    result = probe_features(features, kept_labels or [], folds=folds, seed=seed)
    head_path = None
    if save_head is not None:
        best = result.best
        head = fit_head(features[(best.model, best.stage)], kept_labels or [], model=best.model, stage=best.stage,
                        pool=encoders[best.model].pool, seed=seed, scores=best)
        head_path = head.save(save_head)
    return ProbeResult(result.rows, result.labels, head_path, embed_seconds)
