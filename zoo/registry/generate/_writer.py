"""The one writer of generated registry files: the same data always gives the same bytes.

A generated file is YAML in flow style that is also strict JSON (after its
``#`` comment header), for two reasons:

* speed: PyYAML parses about 1.7 MB/s even with its C parser, so the 3+ MB
  of generated entries would cost seconds on every index rebuild; the loader
  reads a file whose body is JSON with :func:`json.loads` (~100x faster) and
  falls back to YAML otherwise (see ``zoo.registry._load``);
* exactness: YAML 1.1 and JSON read every value this writer emits the same
  (strings double-quoted with JSON escapes; floats always with a ``.`` and a
  signed exponent, since ``1e-05`` would read back as a string in YAML 1.1).

Layout, for reviewable diffs: the comment header names the generator, the
manifests (origin and commit) and the package versions read; models sorted by
name, one line per model's own fields; versions with the default first, then
by name; one line per version field, in a fixed order (:data:`VERSION_KEYS`),
one line per metric and per file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["MODEL_KEYS", "VERSION_KEYS", "dump", "flow", "scalar"]

MODEL_KEYS = ("task", "modality", "architecture", "paper", "description", "aliases", "tags", "default")
VERSION_KEYS = (
    "adapter",
    "arch",
    "arch_args",
    "task",
    "license",
    "dataset",
    "description",
    "paper",
    "params",
    "input",
    "embed_dim",
    "metrics",
    "snapshot",
    "files",
    "ids",
    "tags",
    "weights_layout",
    "requires",
)
# Keys inside nested mappings, in this order when present (others follow, sorted).
_FLOW_ORDER = (
    "name",
    "path",
    "title",
    "url",
    "year",
    "value",
    "size",
    "sha256",
    "hash",
    "source",
    "hf",
    "file",
    "dataset",
    "resolution",
    "hardware",
    "shape",
    "mean",
    "std",
    "interpolation",
    "crop_pct",
)


def _key_order(mapping: dict[str, Any], order: Iterable[str]) -> list[str]:
    order = list(order)
    known = [k for k in order if k in mapping]
    return known + sorted(k for k in mapping if k not in order)


def scalar(value: Any) -> str:
    """One scalar as text that JSON and YAML 1.1 both read back as ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value!r} has no JSON form")
        text = repr(value)
        if "e" in text:
            mantissa, exp = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            if exp[0] not in "+-":
                exp = "+" + exp
            text = f"{mantissa}e{exp}"
        return text
    return json.dumps(str(value))


def flow(value: Any) -> str:
    """A value on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(value[k])}" for k in _key_order(value, _FLOW_ORDER)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _version(version: dict[str, Any], indent: str) -> str:
    fields = []
    for key in _key_order(version, VERSION_KEYS):
        value = version[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inner = indent + "  "
            items = f",\n{inner}".join(flow(item) for item in value)
            fields.append(f"{scalar(key)}: [\n{inner}{items}]")
        else:
            fields.append(f"{scalar(key)}: {flow(value)}")
    return "{\n" + indent + f",\n{indent}".join(fields) + "}"


def _version_order(model: dict[str, Any]) -> list[str]:
    default = model["default"]
    return [default] + sorted(v for v in model["versions"] if v != default)


def dump(models: dict[str, dict[str, Any]], header: list[str], description: str | None = None) -> str:
    """The text of one registry file holding ``models``, with ``header`` as its leading comment."""
    lines = [f"# {line}".rstrip() for line in header]
    top = ['"schema_version": 1']
    if description:
        top.append(f'"description": {scalar(description)}')
    blocks = []
    for name in sorted(models):
        model = models[name]
        own = "".join(f"{scalar(k)}: {flow(model[k])}, " for k in _key_order(model, MODEL_KEYS) if k != "versions")
        versions = ",\n".join(
            f"  {scalar(v)}: {_version(model['versions'][v], '    ')}" for v in _version_order(model)
        )
        blocks.append(f"{scalar(name)}: {{{own}\"versions\": {{\n{versions}}}}}")
    body = "{" + ", ".join(top) + ', "models": {\n' + ",\n".join(blocks) + "\n}}"
    return "\n".join(lines + [body]) + "\n"
