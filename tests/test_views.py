"""The registry's typed views agree with its schema field by field, and callers outside zoo/registry/ get views only.

zoo.schema (pydantic) validates registry files; zoo.registry's frozen dataclasses are what every caller gets.
A field added to the schema without its view (or renamed in one of them) fails here, not in a user's hands.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from zoo import schema
from zoo.registry import _views as views

ROOT = Path(__file__).resolve().parents[1]

# schema class -> (view class, schema field -> view field where the names differ, schema fields the view leaves out and why)
PAIRS = {
    schema.Paper: (views.Paper, {}, {}),
    schema.Metric: (views.Metric, {}, {}),
    schema.InputSpec: (views.InputSpec, {}, {}),
    schema.Stage: (views.DeclaredStage, {}, {}),
    schema.PypiSource: (views.PypiMember, {}, {}),
    schema.Source: (views.Source, {}, {}),
    schema.HubSnapshot: (views.HubSnapshot, {"hf": "repo"}, {}),
    schema.FileSpec: (views.FileInfo, {}, {}),
}
# ModelInfo holds a version's fields and its model's: where each lands.
VERSION_TO_INFO = {"description": "version_description", "paper": "version_paper", "tags": "version_tags"}
MODEL_TO_INFO = {"versions": "versions", "default": "default"}


def _fields(model: type) -> set[str]:
    return set(model.model_fields)


def _view_fields(view: type) -> set[str]:
    return {f.name for f in dataclasses.fields(view)}


@pytest.mark.parametrize("model", list(PAIRS), ids=lambda m: m.__name__)
def test_every_schema_field_has_its_view_field(model: type) -> None:
    view, renamed, left_out = PAIRS[model]
    missing = {renamed.get(f, f) for f in _fields(model) - set(left_out)} - _view_fields(view)
    assert not missing, f"{view.__name__} lacks {sorted(missing)} of schema.{model.__name__}"


def test_model_info_holds_every_version_and_model_field() -> None:
    info = _view_fields(views.ModelInfo)
    version = {VERSION_TO_INFO.get(f, f) for f in _fields(schema.ModelVersion)}
    model = {MODEL_TO_INFO.get(f, f) for f in _fields(schema.ModelEntry)}
    assert not (version - info), f"ModelInfo lacks version fields {sorted(version - info)}"
    assert not (model - info), f"ModelInfo lacks model fields {sorted(model - info)}"


def test_catalog_info_fills_every_field_from_a_record() -> None:
    import zoo

    for model_id in ("resnet50", "all-minilm-l6-v2", "bge-small-en-v1.5", "glove-twitter-25"):
        info = zoo.info(model_id)
        record = info.to_dict()
        for f in dataclasses.fields(views.ModelInfo):
            assert f.name in record, (model_id, f.name)


def _registry_internals_used_outside(path: Path) -> list[str]:
    """A catalog's raw records (``catalog.models``) or a private registry module used by a module outside zoo/registry/."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr == "models" and isinstance(node.value, ast.Name) and node.value.id == "catalog":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: catalog.models")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo.registry._"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import ...")
    return found


def test_callers_outside_the_registry_get_views_not_its_dicts() -> None:
    outside = [p for p in (ROOT / "zoo").rglob("*.py") if "registry" not in p.relative_to(ROOT / "zoo").parts[:1]]
    outside += list((ROOT / "cli").rglob("*.py"))
    found = [hit for p in outside for hit in _registry_internals_used_outside(p)]
    assert not found, "index the registry's records only inside zoo/registry/; use Catalog.info/versions/entry/rows:\n" + "\n".join(found)


def test_pull_results_are_typed() -> None:
    from zoo.resolve import PulledFile, PullResult

    (files,) = [f for f in dataclasses.fields(PullResult) if f.name == "files"]
    assert "PulledFile" in str(files.type)
    pulled = PulledFile("model.safetensors", 10, "ab" * 32, "cache", ("md5", "cd" * 16), None)
    assert pulled.to_dict() == {"path": "model.safetensors", "size": 10, "sha256": "ab" * 32, "source": "cache", "hash": {"md5": "cd" * 16}}
