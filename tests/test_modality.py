"""One modality object per version, adapter abilities in the adapter table, the adapter contract typed (issue 23, part 3).

Architecture tests read the source (AST) so the shapes stay: no string test of
a modality or an adapter name outside the modules that own them, no adapter
ability outside :class:`zoo._plugins.AdapterSpec`, no ``info: Any``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import typing
from pathlib import Path

import pytest

from zoo import _plugins
from zoo.adapters import Modality, modality_named, modality_of
from zoo.adapters._modality import MODALITIES, TEXT, VISION
from zoo.errors import InvalidOptionError

REPO = Path(__file__).resolve().parents[1]

# The modality module decides; the schema validates the YAML's own field (it sits below the adapters).
MODALITY_OWNERS = {"zoo/adapters/_modality.py", "zoo/schema.py"}


def _is_string(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(_is_string(e) for e in node.elts)
    return False


def _names(node: ast.AST, field: str) -> bool:
    """``x.<field>``, a variable ``<field>``, or ``x["<field>"]``."""
    if isinstance(node, ast.Attribute):
        return node.attr == field
    if isinstance(node, ast.Name):
        return node.id == field
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == field
    return False


def string_tests(tree: ast.AST, field: str) -> list[int]:
    """Lines comparing ``field`` (attribute, name or key) with string constants (==, !=, in, not in)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names(o, field) for o in operands) and any(_is_string(o) for o in operands):
                found.append(node.lineno)
    return found


def _sources(*tops: str) -> list[tuple[str, ast.AST]]:
    out = []
    for top in tops:
        for path in sorted((REPO / top).rglob("*.py")):
            out.append((path.relative_to(REPO).as_posix(), ast.parse(path.read_text())))
    return out


def test_no_modality_string_tests_outside_the_modality_module() -> None:
    problems = [
        f"{rel}:{line}"
        for rel, tree in _sources("zoo", "bench", "cli")
        if rel not in MODALITY_OWNERS
        for line in string_tests(tree, "modality")
    ]
    assert problems == [], "ask zoo.adapters._modality.modality_of(info) instead of comparing the modality string"


def test_no_adapter_name_tests_outside_the_adapter_table() -> None:
    problems = [
        f"{rel}:{line}" for rel, tree in _sources("zoo", "cli") if rel != "zoo/_plugins.py" for line in string_tests(tree, "adapter")
    ]
    assert problems == [], "an adapter's abilities are fields of its AdapterSpec (zoo/_plugins.py), not tests of its name"


def test_the_string_test_check_catches_each_form() -> None:
    code = (
        "a = info.modality == 'text'\n"
        "b = 'vision' != m.modality\n"
        "c = modality in ('text', 'vision')\n"
        "d = record['modality'] == 'text'\n"
        "e = info.modality == other.modality\n"  # two values, no constant: not a decision on the string
        "f = spec.adapter != 'word-vectors'\n"
    )
    tree = ast.parse(code)
    assert string_tests(tree, "modality") == [1, 2, 3, 4]
    assert string_tests(tree, "adapter") == [6]


def test_adapter_abilities_come_from_the_spec() -> None:
    """No adapter class answers an ability itself: the base reads the spec, and every ability the table names resolves."""
    abilities = {"stage_files", "after_pull", "weights_layouts", "file_defined", "word_vectors", "input_from_graph"}
    assert abilities <= {f.name for f in dataclasses.fields(_plugins.AdapterSpec)}
    overriding = [
        f"{rel}:{node.lineno} {cls.name}.{node.name}"
        for rel, tree in _sources("zoo/adapters")
        if rel != "zoo/adapters/_base.py"
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, (ast.FunctionDef, ast.Assign)) and getattr(node, "name", None) in abilities
    ]
    assert overriding == []
    for spec in _plugins.ADAPTERS.values():
        for hook in (spec.after_pull, spec.stage_files):
            if hook is not None:
                module, _, name = hook.partition(":")
                assert callable(getattr(importlib.import_module(module), name)), hook
        assert spec.stage_files is None or spec.file_defined, f"{spec.name}: stage files are for file-defined architectures"


def test_weights_layouts_live_in_the_adapter_table() -> None:
    from zoo import schema
    from zoo.adapters.layouts import LAYOUTS

    assert schema.WEIGHTS_LAYOUTS is _plugins.WEIGHTS_LAYOUTS
    assert "WEIGHTS_LAYOUTS" not in {
        t.id for node in ast.parse((REPO / "zoo/schema.py").read_text()).body
        if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
    }
    assert set(LAYOUTS) == set(_plugins.WEIGHTS_LAYOUTS)
    for layout in _plugins.WEIGHTS_LAYOUTS:
        assert _plugins.layout_adapters(layout), layout


def test_a_layout_on_another_adapter_names_the_converting_one() -> None:
    from pydantic import ValidationError

    from zoo.schema import ModelVersion

    base = {
        "arch": "resnet50", "license": "mit", "weights_layout": "lukemelas-efficientnet",
        "files": [{"path": "m.safetensors", "size": 1, "sha256": "0" * 64, "source": {"url": "https://example.org/m"}}],
    }
    with pytest.raises(ValidationError, match="converted by the timm adapter only"):
        ModelVersion.model_validate({**base, "adapter": "torchvision"})
    assert ModelVersion.model_validate({**base, "adapter": "timm"}).weights_layout == "lukemelas-efficientnet"


def test_the_adapter_contract_is_typed_against_the_views() -> None:
    """``info`` is a :class:`~zoo.registry.ModelInfo` everywhere, and ``get_adapter`` returns an :class:`Adapter`."""
    untyped = [
        f"{rel}:{arg.lineno}"
        for rel, tree in _sources("zoo")
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for arg in node.args.args + node.args.kwonlyargs
        if arg.arg == "info" and (arg.annotation is None or ast.unparse(arg.annotation) == "Any")
    ]
    assert untyped == []
    from zoo.adapters import get_adapter
    from zoo.adapters._base import Adapter

    # A type-only import (the adapters import the package): resolve it as a type checker does.
    assert get_adapter.__annotations__["return"] == "Adapter"
    assert typing.get_type_hints(get_adapter, {**get_adapter.__globals__, "Adapter": Adapter})["return"] is Adapter


def test_every_registry_modality_has_its_object() -> None:
    from zoo.schema import ModelEntry

    assert set(typing.get_args(ModelEntry.model_fields["modality"].annotation)) == set(MODALITIES)
    assert all(isinstance(m, Modality) and MODALITIES[m.name] is m for m in MODALITIES.values())
    with pytest.raises(InvalidOptionError, match="unknown modality 'image'"):
        modality_named("image")  # what the quantized-export bench used to fake


def test_the_modality_supplies_what_differs() -> None:
    from zoo.exporter._variants import Variant, recipe_for

    info = type("V", (), {"modality": "text"})
    assert modality_of(info) is TEXT  # type: ignore[arg-type]
    assert (VISION.default_pool, TEXT.default_pool) == ("avg", "mean")
    assert VISION.io_spec(["features"], "dynamic") == (["image"], ["features"], {"image": {0: "batch"}, "features": {0: "batch"}})
    assert TEXT.io_spec(["features"], 1)[0] == ["input_ids", "attention_mask"]
    assert TEXT.mask_input(["ids", "mask"]) == "mask" and VISION.mask_input(["image"]) is None
    assert recipe_for(TEXT, Variant(quantize="int8")).mode == "int8-dynamic"
    static = recipe_for(VISION, Variant(quantize="int8", calibrate="photos/"))
    assert static.mode == "int8-static" and static.details["calibration"] == "user data" and static.details["optimize"] is False


def test_the_bench_reads_the_gate_bounds_from_the_exporter() -> None:
    from zoo.exporter._variants import MIN_AGREEMENT, MIN_COSINE, Variant

    assert Variant(quantize="int8").cosine_bound() == MIN_COSINE["int8"]
    assert Variant(fp16=True).cosine_bound() == MIN_COSINE["fp16"]
    assert Variant(quantize="int8").agreement_bound() == MIN_AGREEMENT
    tree = ast.parse((REPO / "bench/quantized_export.py").read_text())
    floats = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)}
    assert not floats & {*MIN_COSINE.values(), MIN_AGREEMENT}, "the bench copies the gate's bounds"
    fakes = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "type" and len(n.args) == 3]
    assert fakes == [], "the bench builds a fake info object"
