"""Each field rule of the registry schema: real entries pass, each kind of mistake fails
with the file, the location inside it and a stable code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import SHIPPED, shipped_model, write_registry
from zoo.errors import RegistryError
from zoo.registry import validate_paths

V = "versions.a1_in1k"
F0 = f"{V}.files[0]"


def _issues(tmp_path: Path, models: dict[str, Any], **top: Any) -> list[tuple[str, str, str]]:
    path = write_registry(tmp_path / "family.yaml", models, **top)
    with pytest.raises(RegistryError) as info:
        validate_paths([path])
    for issue in info.value.issues:
        assert issue.file == str(path)
    return [(i.location, i.code, i.message) for i in info.value.issues]


def test_shipped_registry_is_valid() -> None:
    counts = validate_paths([SHIPPED])
    assert counts["models"] >= 10
    # The hand-written files and the generated ones under registry/generated/.
    assert counts["files"] == len(list(SHIPPED.glob("*.yaml"))) + len(list((SHIPPED / "generated").glob("*.yaml")))


def test_real_entry_is_accepted(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "r.yaml", {"resnet50": shipped_model("resnet50")})
    assert validate_paths([path]) == {"files": 1, "models": 1, "versions": 3, "files_pinned": 3}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(entry: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = entry
        for part in parents:
            if "[" in part:
                key, idx = part[:-1].split("[")
                node = node[key][int(idx)]
            else:
                node = node[part]
        if "[" in last:
            key, idx = last[:-1].split("[")
            node[key][int(idx)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()

CASES = [
    # (description, mutation, expected location (under models.resnet50.), expected code)
    ("sha256 too short", _set(f"{F0}.sha256", "abc123"), f"{F0}.sha256", "sha256_format"),
    ("sha256 uppercase", _set(f"{F0}.sha256", "773525D5821DE224F8F30C33377B7A795D7863E08522698200D3217D3F2A41BB"), f"{F0}.sha256", "sha256_format"),
    ("size zero", _set(f"{F0}.size", 0), f"{F0}.size", "greater_than"),
    ("size negative", _set(f"{F0}.size", -5), f"{F0}.size", "greater_than"),
    ("size as string", _set(f"{F0}.size", "102469840"), f"{F0}.size", "int_type"),
    ("revision is a branch", _set(f"{F0}.source.revision", "main"), f"{F0}.source.revision", "revision_format"),
    ("revision short hash", _set(f"{F0}.source.revision", "7672686"), f"{F0}.source.revision", "revision_format"),
    ("http url", _set(f"{F0}.source", {"url": "http://download.pytorch.org/models/resnet50-19c8e357.pth"}), f"{F0}.source.url", "url_scheme"),
    ("both hf and url", _set(f"{F0}.source", {"hf": "timm/resnet50.a1_in1k", "revision": "767268603ca0cb0bfe326fa87277f19c419566ef", "file": "model.safetensors", "url": "https://example.org/x"}), f"{F0}.source", "source_kind"),
    ("hf pinned by sha256 without revision", _set(f"{F0}.source", {"hf": "timm/resnet50.a1_in1k", "file": "model.safetensors"}), F0, "hub_with_hash"),
    ("bad hf repo", _set(f"{F0}.source.hf", "resnet50"), f"{F0}.source.hf", "hf_repo_format"),
    ("path escapes", _set(f"{F0}.path", "../model.safetensors"), f"{F0}.path", "path_format"),
    ("absolute path", _set(f"{F0}.path", "/etc/passwd"), f"{F0}.path", "path_format"),
    ("unknown key in file", _set(f"{F0}.md5", "x"), f"{F0}.md5", "extra_forbidden"),
    ("unknown key in model", _set("weights", "x"), "weights", "extra_forbidden"),
    ("unknown adapter", _set(f"{V}.adapter", "caffe2"), f"{V}.adapter", "literal_error"),
    ("unknown task", _set("task", "classification"), "task", "literal_error"),
    ("unknown modality", _set("modality", "audio"), "modality", "literal_error"),
    ("missing license", _set(f"{V}.license", _DELETE), f"{V}.license", "missing"),
    # A model may name no paper (some publishers give none); one it names needs a title and an https url.
    ("paper without title", _set("paper.title", _DELETE), "paper.title", "missing"),
    ("paper url http", _set("paper.url", "http://arxiv.org/abs/1512.03385"), "paper.url", "url_scheme"),
    ("default not a version", _set("default", "v9"), "", "default_version"),
    ("no files", _set(f"{V}.files", []), V, "files_required"),
    ("snapshot and files", _set(f"{V}.snapshot", {"hf": "BAAI/bge-small-en-v1.5", "revision": "5c38ec7c405ec4b44b94cc5a9bb96e735b38267a"}), V, "snapshot_with_files"),
    ("snapshot revision a branch", _set(f"{V}.snapshot", {"hf": "BAAI/bge-small-en-v1.5", "revision": "main"}), f"{V}.snapshot.revision", "revision_format"),
    ("unknown requirement", _set(f"{V}.requires", ["gpu"]), f"{V}.requires[0]", "literal_error"),
    ("duplicate file path", _set(f"{V}.files", [shipped_model("resnet50")["versions"]["a1_in1k"]["files"][0]] * 2), V, "duplicate"),
    ("mean without std", _set(f"{V}.input.std", _DELETE), f"{V}.input", "mean_std_pair"),
    ("mean wrong length", _set(f"{V}.input.mean", [0.5, 0.5]), f"{V}.input", "mean_std_length"),
    ("std zero", _set(f"{V}.input.std", [0.2, 0.0, 0.2]), f"{V}.input", "std_positive"),
    ("stage zero channels", _set(f"{V}.stages[0]", {"name": "act1", "channels": 0, "stride": 2}), f"{V}.stages[0].channels", "greater_than"),
    ("duplicate stage", _set(f"{V}.stages[1]", {"name": "act1", "channels": 64, "stride": 2}), V, "duplicate"),
    ("vision without input", _set(f"{V}.input", _DELETE), "", "vision_input"),
    ("bad version name", _set("versions", {"A1 IN1K": shipped_model("resnet50")["versions"]["a1_in1k"]}), "versions.A1 IN1K.[key]", "name_format"),
    ("duplicate alias", _set("aliases", ["resnet-50", "resnet-50"]), "aliases", "duplicate"),
    ("params not int", _set(f"{V}.params", 25.5), f"{V}.params", "int_type"),
    ("interpolation unknown", _set(f"{V}.input.interpolation", "lanczos"), f"{V}.input.interpolation", "literal_error"),
]


@pytest.mark.parametrize("mutate, location, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_rejects(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], location: str, code: str) -> None:
    entry = shipped_model("resnet50")
    mutate(entry)
    issues = _issues(tmp_path, {"resnet50": entry})
    expected_loc = "models.resnet50" + (f".{location}" if location else "")
    assert (expected_loc, code) in [(loc, c) for loc, c, _ in issues], issues
    # Every message says something beyond the code.
    assert all(len(message) > 10 for _, _, message in issues)


def test_bad_model_name(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"ResNet 50": shipped_model("resnet50")})
    assert ("models.ResNet 50.[key]", "name_format") in [(loc, c) for loc, c, _ in issues]


def test_schema_version_must_be_1(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"resnet50": shipped_model("resnet50")}, schema_version=2)
    # write_registry puts schema_version first, then the override replaces it.
    assert ("schema_version", "literal_error") in [(loc, c) for loc, c, _ in issues]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"resnet50": shipped_model("resnet50")}, family="resnet")
    assert ("family", "extra_forbidden") in [(loc, c) for loc, c, _ in issues]
    assert "unknown key 'family'" in issues[0][2]


def test_messages_say_what_to_do(tmp_path: Path) -> None:
    entry = shipped_model("resnet50")
    entry["versions"]["a1_in1k"]["files"][0]["source"]["revision"] = "main"
    ((loc, code, message),) = _issues(tmp_path, {"resnet50": entry})
    assert "40-hex" in message and "'main'" in message and "reproducible" in message


def test_models_are_frozen() -> None:
    from pydantic import ValidationError

    from zoo.schema import Paper

    paper = Paper(title="Deep Residual Learning for Image Recognition", url="https://arxiv.org/abs/1512.03385")
    with pytest.raises(ValidationError):
        paper.title = "other"  # type: ignore[misc]
