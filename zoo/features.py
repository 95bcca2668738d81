"""Models as truncatable feature extractors: ``load``, ``stages``, ``preprocess``, ``tokenizer``.

``load("resnet50", until="layer3")`` pulls the version if needed (verified
files in the cache), builds the architecture through its framework adapter,
loads the weights safely, and cuts the network after the named stage, so the
later layers are not even kept in memory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _layout, _stages
from zoo._plugins import ADAPTERS
from zoo._stages import Stage, StageSet
from zoo.adapters import Cut, get_adapter, preprocess_for
from zoo.errors import InvalidOptionError, WeightsError
from zoo.registry import ModelInfo, load_catalog

if TYPE_CHECKING:
    from zoo.cache import Cache

__all__ = [
    "Stage",
    "StageSet",
    "stages",
    "stage_set",
    "load",
    "load_vectors",
    "preprocess",
    "tokenizer",
    "cut_for",
    "check_stages",
    "check_registry_stages",
    "registry_versions",
    "count_params",
    "measure_stage",
    "preprocess_for",
    "build",
]

Registries = Sequence[str | os.PathLike[str]] | None
Until = str | Sequence[str] | None


def stage_set(info: ModelInfo, folder: Path | None = None) -> StageSet:
    """The stages of a resolved version, derived from its architecture (from the cache when derived before).

    A cached set is read without importing the adapter's framework, so listing
    stages stays fast.
    """
    found = _stages.cached(info, ADAPTERS[info.adapter]) if info.adapter in ADAPTERS else None
    if found is not None:
        return found.with_aliases(info.stages)
    return get_adapter(info.adapter).stages(info, folder)


def stages(model_id: str, *, all: bool = False, registries: Registries = None, cache: Cache | None = None) -> list[Stage]:  # noqa: A002
    """Returns the stages of a model version, input first, derived from its architecture.

    Args:
        model_id: ``[family/]name[@version]``.
        all: Every measured cut point, not only the main stages.
        registries: Extra registries.
        cache: The cache whose stages area keeps the derived set (default: ``$ZOO_HOME``).

    Example:
        >>> [s.name for s in stages("resnet50")][-2:]
        ['layer3', 'layer4']
    """
    with _layout.use(cache.root) if cache is not None else contextlib.nullcontext():
        found = stage_set(load_catalog(registries).info(model_id))
    return list(found.stages) if all else found.main


def cut_for(info: ModelInfo, until: Until, *, head: bool = False, folder: Path | None = None, check: bool = True) -> Cut:
    """Resolves ``until`` (a stage name, a list of names, or None) to a :class:`Cut` of the architecture.

    Names are looked up in the stages derived from the architecture, never by
    position in a registry list. With ``check``, the registry's ``stages:``
    list (documentation) is checked against them first.

    Raises:
        StageNotFoundError: A name is not a stage; lists the closest valid names.
        StageMismatchError: The registry's stages disagree with the architecture.
    """
    if head:
        if until is not None:
            raise InvalidOptionError("head=True keeps the whole model; do not combine it with until=")
        return Cut((), head=True)
    found, measure = _derived(info, folder, check=check)
    return Cut(tuple(_stages.select(found, until, measure)))


def _derived(info: ModelInfo, folder: Path | None = None, *, check: bool = True) -> tuple[StageSet, Callable[[str], Stage]]:
    """The version's derived stages and a measurer for its other cut points; checks the registry's list first.

    Raises:
        StageMismatchError: With ``check``, the registry's ``stages:`` list disagrees with the architecture.
    """
    adapter = get_adapter(info.adapter)
    found = adapter.stages(info, folder)

    def measure(name: str) -> Stage:
        return adapter.measure(info, folder, name)

    if check and info.stages:
        _stages.check_declared(found, info.stages, measure)
    return found, measure


def check_stages(model_id: str, *, registries: Registries = None) -> list[Stage]:
    """Checks a version's registry ``stages:`` list against its architecture; returns the derived main stages.

    Raises:
        StageMismatchError: A listed stage does not exist, or its channels or stride differ.
    """
    found, _ = _derived(load_catalog(registries).info(model_id))
    return found.main


def registry_versions(paths: Sequence[str | os.PathLike[str]]) -> list[ModelInfo]:
    """Every version defined in the given registry files or folders (as the merged catalog resolves them)."""
    from zoo.registry import registry_files

    catalog = load_catalog(paths)
    wanted = {Path(f).resolve() for p in paths for f in registry_files(Path(p))}
    # A version merged under a curated model keeps the file it was defined in.
    return [info for info in catalog.versions() if Path(info.registry_file).resolve() in wanted]


def check_registry_stages(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, str]]:
    """Derives the stages of every version in ``paths`` and checks each ``stages:`` list against them.

    This builds every architecture (without weights; file-defined ones fetch
    their architecture file), so it is the slow, deep part of
    ``zoo registry validate --deep``.

    Returns:
        One ``{"file", "model", "stage", "field", "message"}`` per problem (empty: all agree).
    """
    from zoo.errors import StageMismatchError, ZooError

    problems = []
    for info in registry_versions(paths):
        try:
            _derived(info)
        except StageMismatchError as exc:
            problems.append({"file": info.registry_file, "model": info.id, "stage": exc.stage, "field": exc.field, "message": str(exc)})
        except ZooError as exc:  # MissingDependencyError included
            problems.append({"file": info.registry_file, "model": info.id, "stage": "", "field": "", "message": f"cannot derive stages: {exc}"})
    return problems


def load(
    model_id: str,
    until: Until = None,
    *,
    head: bool = False,
    pretrained: bool = True,
    vocab: int | None = None,
    registries: Registries = None,
    offline: bool | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Returns a model version as a torch module (eval mode), cut after one or several stages.

    Args:
        model_id: ``[family/]name[@version]``.
        until: The stage to cut after (name or alias; ``zoo.stages`` lists
            them), or a list of stages (``["layer2", "layer3", "layer4"]``):
            the model then returns one map per stage, in that order, and
            keeps the layers up to the deepest. None keeps the whole feature
            trunk (the last main stage), without the classifier.
        head: Keep the classifier too (the whole model); ``until`` must be None.
        pretrained: Load the registry's weights (pulling them if needed);
            False builds the architecture with random weights.
        vocab: Word-vector models only: keep the ``vocab`` most frequent words.
        registries, offline, progress: As for :func:`zoo.pull`.

    Returns:
        A ``torch.nn.Module`` (an ONNX Runtime callable for ONNX and Caffe
        models) whose output is the stage's tensor, (N, C, H, W) for vision
        and (N, T, H) for text, or a tuple of them for several stages. It has
        ``zoo_model``, ``zoo_stage`` (the single stage), ``zoo_stages`` (the
        names) and ``zoo_input`` attributes.

    Raises:
        StageNotFoundError: A stage is not one of the architecture's; lists the closest.
        StageMismatchError: The registry's ``stages:`` list disagrees with the architecture.
        WeightsError: The weights are unsafe or do not fit the architecture.
    """
    info = load_catalog(registries).info(model_id)
    module, _, _ = build(info, until, head=head, pretrained=pretrained, vocab=vocab, offline=offline, progress=progress)
    return module


def build(
    info: ModelInfo,
    until: Until,
    *,
    head: bool,
    pretrained: bool,
    vocab: int | None,
    offline: bool | None,
    progress: Callable[[dict[str, Any]], None] | None,
) -> tuple[Any, Cut, Path | None]:
    """Builds a resolved version cut at ``until``; returns (module, cut, pulled folder or None).

    What :func:`load` does for a model id, for callers that hold the resolved
    version and need the cut and the folder too (the exporter, the classifier).
    """
    from zoo.adapters import check_requires

    check_requires(info)  # a remote-code model is refused before anything is pulled
    adapter = get_adapter(info.adapter)
    options = {"vocab": vocab} if vocab is not None else {}
    adapter.check_options(info, options)
    # The cut is resolved (and the registry's stages checked) before anything big is downloaded.
    cut = cut_for(info, until, head=head)
    folder = pull_info(info, offline=offline, progress=progress) if pretrained else None
    return adapter.build(info, folder, cut, **options), cut, folder


def pull_info(info: ModelInfo, *, offline: bool | None = None, progress: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Pulls a resolved version and lets its adapter finish the files (conversions); returns the folder."""
    from zoo.resolve import pull_version

    folder = pull_version(info, offline=offline, progress=progress)
    _after_pull(info, folder)
    return folder


def _after_pull(info: ModelInfo, folder: Path) -> None:
    """Runs the adapter table's ``after_pull`` hook, if the adapter has one (imports no framework otherwise)."""
    import importlib

    from zoo._plugins import ADAPTERS

    spec = ADAPTERS.get(info.adapter)
    if spec is not None and spec.after_pull:
        module, _, name = spec.after_pull.partition(":")
        getattr(importlib.import_module(module), name)(info, folder)


def finish_pulls(results: Sequence[Any], *, registries: Registries = None) -> None:
    """Lets each pulled version's adapter finish its files (word vectors: parsed once into their safe cached form).

    Args:
        results: :class:`~zoo.resolve.PullResult` s of :func:`zoo.pull` or a lock file's pull; a
            version this registry does not know (pulled from a lock) is left as it is.
    """
    from zoo.errors import ModelNotFoundError, VersionNotFoundError

    catalog = load_catalog(registries)
    for result in results:
        try:
            info = catalog.info(result.model)
        except (ModelNotFoundError, VersionNotFoundError):
            continue
        _after_pull(info, Path(result.path))


def load_vectors(
    model_id: str, *, vocab: int | None = None, registries: Registries = None, offline: bool | None = None
) -> Any:
    """Returns a word-vector model as :class:`zoo.vectors.KeyedVectors` (memory-mapped).

    The published file is pulled and verified, then parsed once into a safe
    cached form (safetensors matrix + vocabulary); later calls map that.

    Example:
        >>> kv = load_vectors("glove-wiki-gigaword-100")  # doctest: +SKIP
        >>> kv.most_similar("king", topn=3)  # doctest: +SKIP
    """
    info = load_catalog(registries).info(model_id)
    adapter = get_adapter(info.adapter)
    adapter.keyed_vectors(info, None)  # refuses models that are not word vectors, before any download
    kv = adapter.keyed_vectors(info, pull_info(info, offline=offline))
    return kv.trimmed(vocab) if vocab is not None else kv


def count_params(module: Any) -> int | None:
    """Number of parameters of a torch module (None for other callables)."""
    parameters = getattr(module, "parameters", None)
    return sum(p.numel() for p in parameters()) if parameters is not None else None


def measure_stage(model_id: str, until: Until, *, registries: Registries = None) -> tuple[list[Any], int | None]:
    """Builds the cut architecture with random weights (nothing is downloaded) and measures it.

    Returns:
        (output shape for one example input at the registry's input size — a
        list of shapes for several stages —, parameter count of the cut).
    """
    import torch

    info = load_catalog(registries).info(model_id)
    module, _, _ = build(info, until, head=False, pretrained=False, vocab=None, offline=None, progress=None)
    with torch.no_grad():
        out = module(*get_adapter(info.adapter).example_inputs(info))
    shapes = [list(o.shape) for o in out] if isinstance(out, tuple) else list(out.shape)
    return shapes, count_params(module)


def preprocess(model_id: str, *, registries: Registries = None) -> Callable[[Any], Any]:
    """Returns the model's input transform, from the registry's input spec.

    The callable takes a PIL image or a uint8 array (H, W, 3) and returns a
    float tensor (3, H, W), resized, center-cropped and normalized as the
    weights expect.
    """
    return preprocess_for(load_catalog(registries).info(model_id))


def tokenizer(model_id: str, *, registries: Registries = None, offline: bool | None = None) -> Any:
    """Returns the model's tokenizer, built from its cached tokenizer files (pulled if needed)."""
    info = load_catalog(registries).info(model_id)
    spec = info.input
    # A Hub snapshot's tokenizer files come with its listing, each checked like every file of it.
    if (spec is None or not spec.tokenizer) and info.snapshot is None:
        raise WeightsError(
            f"{info.id}: the registry pins no tokenizer file for this version, so no verified tokenizer can be built"
        )
    from zoo.adapters import check_remote_code, check_requires

    check_requires(info)  # before anything is pulled
    folder: Path = pull_info(info, offline=offline)
    check_remote_code(info, folder)  # before transformers is imported
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{info.id}: transformers could not build a tokenizer from {folder}: {exc}") from exc
    if spec is not None and spec.max_length:
        tok.model_max_length = spec.max_length
    return tok
