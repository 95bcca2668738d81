"""Loading, merging, indexing, resolving and searching the registry."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

import zoo
from conftest import SHIPPED, shipped_model, write_registry
from zoo import registry
import zoo.registry._load  # noqa: F401 (patched below)
from zoo.errors import ModelNotFoundError, RegistryError, VersionNotFoundError, ZooError
from zoo.registry import load_catalog, parse_size, validate_paths


def _fresh() -> None:
    registry._CATALOGS.clear()


# ---- loading and the index -------------------------------------------------


def test_index_is_written_and_reused(zoo_env: Path) -> None:
    catalog = load_catalog()
    assert "resnet50" in catalog.models
    (index,) = (zoo_env / "index").glob("registry-*.json")
    data = json.loads(index.read_text())
    assert data["models"]["resnet50"]["default"] == "a1_in1k"
    # Poison the index: a second process that trusts it must see the poisoned value,
    # which proves the YAML was not parsed again.
    data["models"]["resnet50"]["architecture"] = "FROM-INDEX"
    index.write_text(json.dumps(data))
    _fresh()
    assert zoo.info("resnet50").architecture == "FROM-INDEX"


def test_index_is_invalidated_by_an_edit(tmp_path: Path, zoo_env: Path) -> None:
    before = set((zoo_env / "index").glob("registry-*.json"))  # the shipped registry's, copied in by conftest
    entry = shipped_model("resnet18") | {"aliases": []}
    extra = write_registry(tmp_path / "extra.yaml", {"my-resnet": entry})
    assert zoo.info("my-resnet", registries=[extra]).architecture == "ResNet-18"
    entry["architecture"] = "ResNet-18 (edited)"
    write_registry(extra, {"my-resnet": entry})
    os.utime(extra, ns=(time.time_ns(), time.time_ns() + 10**9))
    _fresh()
    assert zoo.info("my-resnet", registries=[extra]).architecture == "ResNet-18 (edited)"
    assert len(set((zoo_env / "index").glob("registry-*.json")) - before) == 2


def test_fast_path_does_not_validate(zoo_env: Path) -> None:
    load_catalog()
    _fresh()
    import sys

    for mod in [m for m in sys.modules if m == "zoo.schema"]:
        del sys.modules[mod]
    load_catalog()
    assert "zoo.schema" not in sys.modules


def test_unwritable_home_still_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ZOO_HOME", str(blocker))
    assert len(zoo.list_models()) >= 10


# ---- validation errors name file and location ------------------------------


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nmodels:\n  resnet50: [unclosed\n")
    with pytest.raises(RegistryError) as info:
        validate_paths([bad])
    (issue,) = info.value.issues
    assert issue.file == str(bad) and issue.code == "yaml_syntax"
    assert issue.location.startswith("line ")


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    text = (SHIPPED / "resnet.yaml").read_text()
    body = text.split("models:\n", 1)[1]
    dup = tmp_path / "dup.yaml"
    dup.write_text("schema_version: 1\nmodels:\n" + body + body)
    with pytest.raises(RegistryError) as info:
        validate_paths([dup])
    assert info.value.issues[0].code == "yaml_syntax"
    assert "duplicate key 'resnet18'" in info.value.issues[0].message


def test_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(RegistryError, match="top level must be a mapping"):
        validate_paths([bad])


def test_python_tags_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    evil.write_text(f"schema_version: 1\nmodels: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(RegistryError) as info:
        validate_paths([evil])
    assert info.value.issues[0].code == "yaml_syntax"
    assert not marker.exists()


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry._load, "_MAX_REGISTRY_BYTES", 100)
    with pytest.raises(RegistryError) as info:
        validate_paths([SHIPPED / "resnet.yaml"])
    assert info.value.issues[0].code == "file_too_large"


def test_duplicate_names_across_files_of_one_layer(tmp_path: Path) -> None:
    a = write_registry(tmp_path / "a.yaml", {"resnet50": shipped_model("resnet50")})
    b = write_registry(tmp_path / "b.yaml", {"resnet50": shipped_model("resnet50")})
    with pytest.raises(RegistryError) as info:
        validate_paths([a, b])
    issue = next(i for i in info.value.issues if i.code == "duplicate_name" and i.location == "models.resnet50")
    assert issue.file == str(b) and str(a) in issue.message


def test_alias_colliding_with_a_name(tmp_path: Path) -> None:
    entry = shipped_model("resnet34")
    entry["aliases"] = ["resnet50"]
    a = write_registry(tmp_path / "a.yaml", {"resnet50": shipped_model("resnet50"), "resnet34": entry})
    with pytest.raises(RegistryError) as info:
        validate_paths([a])
    (issue,) = info.value.issues
    assert (issue.location, issue.code) == ("models.resnet34.aliases", "duplicate_name")
    assert "'resnet50'" in issue.message


def test_every_problem_is_reported(tmp_path: Path) -> None:
    e1 = shipped_model("resnet18")
    e1["versions"]["tv_legacy"]["files"][0]["sha256"] = "nothex"
    e2 = shipped_model("resnet34")
    e2["versions"]["tv_legacy"]["license"] = ""
    a = write_registry(tmp_path / "a.yaml", {"resnet18": e1})
    b = write_registry(tmp_path / "b.yaml", {"resnet34": e2})
    with pytest.raises(RegistryError) as info:
        validate_paths([a, b])
    files = {i.file for i in info.value.issues}
    assert files == {str(a), str(b)}
    assert "2 problems" in str(info.value)


def test_missing_path() -> None:
    with pytest.raises(RegistryError, match="no such file"):
        validate_paths(["/nonexistent/registry.yaml"])


def test_registry_error_is_value_error() -> None:
    assert issubclass(RegistryError, ValueError) and issubclass(RegistryError, ZooError)


# ---- merging extra registries -----------------------------------------------


def test_zoo_registry_env_adds_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "extra"
    write_registry(folder / "mine.yaml", {"my-resnet18": shipped_model("resnet18") | {"aliases": ["mine18"]}})
    other = write_registry(tmp_path / "other.yaml", {"my-resnet34": shipped_model("resnet34") | {"aliases": []}})
    monkeypatch.setenv("ZOO_REGISTRY", os.pathsep.join([str(folder), str(other)]))
    names = {m.name for m in zoo.list_models()}
    assert {"my-resnet18", "my-resnet34", "resnet50"} <= names
    assert zoo.info("mine18").name == "my-resnet18"
    assert zoo.info("my-resnet18").family == "mine"


def test_extra_registry_overrides_a_shipped_model(tmp_path: Path) -> None:
    entry = shipped_model("resnet50")
    entry["default"] = "tv_in1k"
    extra = write_registry(tmp_path / "pin.yaml", {"resnet50": entry})
    assert zoo.info("resnet50").version == "a1_in1k"
    assert zoo.info("resnet50", registries=[extra]).version == "tv_in1k"
    assert zoo.info("resnet50", registries=[extra]).registry_file == str(extra)


def test_extra_registry_alias_may_not_shadow(tmp_path: Path) -> None:
    entry = shipped_model("resnet18")
    entry["aliases"] = ["resnet-50"]
    extra = write_registry(tmp_path / "x.yaml", {"tiny": entry})
    with pytest.raises(RegistryError) as info:
        load_catalog([extra])
    assert "'resnet-50' is already taken by model 'resnet50'" in str(info.value)


def test_invalid_extra_registry_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nmodels:\n  x: {task: nope}\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(bad))
    with pytest.raises(RegistryError) as info:
        zoo.list_models()
    assert all(i.file == str(bad) for i in info.value.issues)


# ---- resolving ids ------------------------------------------------------------


def test_resolve_default_alias_version_family() -> None:
    assert zoo.info("resnet50").id == "resnet50@a1_in1k"
    assert zoo.info("resnet-50@tv_in1k").id == "resnet50@tv_in1k"
    assert zoo.info("resnet/resnet50@tv_legacy").files[0].path == "resnet50-19c8e357.pth"
    with pytest.raises(ModelNotFoundError):
        zoo.info("bert/resnet50")


def test_unknown_model_suggests() -> None:
    with pytest.raises(ModelNotFoundError) as info:
        zoo.info("resnt50")
    assert info.value.suggestions[0] == "resnet50"
    assert "Did you mean 'resnet50'" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_unknown_version_lists_versions() -> None:
    with pytest.raises(VersionNotFoundError) as info:
        zoo.info("resnet50@v9")
    assert "a1_in1k, tv_in1k, tv_legacy" in str(info.value)


def test_info_has_every_field() -> None:
    m = zoo.info("all-minilm-l6-v2")
    assert m.modality == "text" and m.adapter == "transformers"
    assert len(m.files) == 11 and m.size == sum(f.size for f in m.files)
    model_file = next(f for f in m.files if f.path == "model.safetensors")
    assert model_file.sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert model_file.source.revision == "1110a243fdf4706b3f48f1d95db1a4f5529b4d41" and model_file.source.kind == "hf"
    assert model_file.tier == "sha256" and m.file("model.safetensors") is model_file
    with pytest.raises(KeyError, match="no file 'nope.bin'"):
        m.file("nope.bin")
    # Views are frozen, and to_dict() gives back the registry's own mapping.
    with pytest.raises(dataclasses.FrozenInstanceError):
        model_file.size = 1  # type: ignore[misc]
    assert m.to_dict()["files"][0] == {"path": m.files[0].path, "size": m.files[0].size, "sha256": m.files[0].sha256, "source": m.files[0].source.to_dict()}
    assert m.input.to_dict() == {"tokenizer": "tokenizer.json", "max_length": 256}
    assert [s.name for s in m.stages][:2] == ["embeddings", "encoder.layer.0"]


def test_get_entry_returns_schema_objects() -> None:
    entry, version = registry.get_entry("resnet50@tv_in1k")
    assert entry.architecture == "ResNet-50"
    assert version.files[0].source.kind == "hf"
    assert version.stages[3].channels == 1024


# ---- listing and filters ---------------------------------------------------------


def test_list_filters() -> None:
    vision = zoo.list_models(modality="vision")
    assert vision and all(m.modality == "vision" for m in vision)
    apache = zoo.list_models(license="apache-2.0", task="image-classification")
    assert apache and all(m.license == "apache-2.0" for m in apache)
    # bvlc_alexnet's weights (BVLC, torchvision, OMZ) are none apache-2.0; resnet50 has an apache default.
    names = {m.name for m in apache}
    assert "resnet50" in names and "bvlc_alexnet" not in names


def test_version_filter_picks_a_matching_version() -> None:
    (r50,) = [m for m in zoo.list_models(adapter="torchvision") if m.name == "resnet50"]
    assert r50.version == "tv_legacy" and r50.default == "a1_in1k"


def test_max_size_and_params() -> None:
    small = zoo.list_models(max_size="30MB")
    assert small and all(m.size <= 30_000_000 for m in small)
    tiny = zoo.list_models(max_params=6_000_000)
    assert all(m.params is not None and m.params <= 6_000_000 for m in tiny)
    # The hand-written small models are among them; resnet50 (25.6M in every version) is not.
    names = {m.name for m in tiny}
    assert {"efficientnet_b0", "efficientnet_lite1", "mobilenetv3_large_100", "mobilenetv3_small_100"} <= names
    assert "resnet50" not in names


@pytest.mark.parametrize(
    "text, expected",
    [("100MB", 10**8), ("1.5GiB", int(1.5 * 2**30)), ("2048", 2048), ("10 kB", 10_000), ("1KiB", 1024), (5, 5)],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_rejects() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


# ---- search ---------------------------------------------------------------------


def test_search_ranks_exact_name_first() -> None:
    hits = zoo.search("resnet50")
    assert hits[0].name == "resnet50"
    assert hits[0].score > hits[-1].score or len(hits) == 1


def test_search_all_words_must_match() -> None:
    names = [m.name for m in zoo.search("resnet imagenet")]
    assert set(names) == {"resnet18", "resnet34", "resnet50"}  # 'imagenet' is a tag of the hand-written entries only
    assert zoo.search("resnet glove") == []


def test_search_fields() -> None:
    hits = [m.name for m in zoo.search("inception")]
    assert "inception_v3" in hits and all("inception" in name or "googlenet" in name for name in hits[:5])
    # paper title
    assert {m.name for m in zoo.search("residual learning")} >= {"resnet50"}
    # alias
    assert zoo.search("minilm")[0].name == "all-minilm-l6-v2"
    # architecture / tags
    assert "vit_base_patch16_224" in {m.name for m in zoo.search("transformer imagenet")}
    # a name without separators matches a hyphenated one
    assert zoo.search("allminilm")[0].name == "all-minilm-l6-v2"


def test_search_prefers_name_over_paper_word() -> None:
    hits = zoo.search("bert")
    assert hits[0].name in {"bert-base-uncased"}
    scores = {m.name: m.score for m in hits}
    assert scores["bert-base-uncased"] > scores["all-minilm-l6-v2"]


def test_search_with_filters() -> None:
    small = zoo.search("resnet", max_size="50MB")
    assert "resnet18" in {m.name for m in small} and all(m.size_known and m.size <= 50_000_000 for m in small)
    # inception_v3's only sized files are 104-109 MB; other inception models have smaller ones.
    assert "inception_v3" not in {m.name for m in zoo.search("inception", max_size="100MB")}
    assert "inception_v3" in {m.name for m in zoo.search("inception", max_size="200MB")}


def test_search_limit_and_empty_query() -> None:
    assert len(zoo.search("", limit=2)) == 2
    assert len(zoo.search("")) == len(zoo.list_models())
