"""The real `zoo` command in a child process: output, --json shapes, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SHIPPED, shipped_model, write_registry, run_zoo


def test_help_lists_commands_and_exit_codes() -> None:
    r = run_zoo("--help")
    assert r.returncode == 0
    for word in ["list", "search", "info", "registry", "Exit codes"]:
        assert word in r.stdout


def test_list_table() -> None:
    r = run_zoo("list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # A TOP-1 column, since the registry publishes top-1 accuracies (tests/test_query.py: without any, none).
    # An MTEB column too: text models publish MTEB(eng, v2) means.
    assert lines[0].split() == ["NAME", "VERSION", "TASK", "MODALITY", "PARAMS", "TOP-1", "MTEB", "SIZE", "LICENSE", "VERIFIED"]
    row = next(line for line in lines if line.startswith("resnet50 "))
    assert "a1_in1k" in row and "25.6M" in row and "apache-2.0" in row and "80.38" in row


def test_list_json_with_filters() -> None:
    r = run_zoo("list", "--task", "image-classification", "--modality", "vision", "--license", "apache-2.0", "--json")
    assert r.returncode == 0, r.stderr
    page = json.loads(r.stdout)
    rows = page["rows"]
    assert page["count"] == page["total"] == len(rows) and page["offset"] == 0
    assert rows and {row["license"] for row in rows} == {"apache-2.0"}
    r50 = next(row for row in rows if row["name"] == "resnet50")
    assert r50["id"] == "resnet50@a1_in1k"
    assert set(r50) >= {"name", "version", "default", "versions", "task", "modality", "params", "size", "license", "adapter"}
    assert r50["params"] == 25557032 and r50["size"] == 102469840


def test_list_no_match() -> None:
    r = run_zoo("list", "--task", "fill-mask", "--modality", "vision")
    assert r.returncode == 0 and "No models match" in r.stdout
    assert json.loads(run_zoo("list", "--task", "fill-mask", "--modality", "vision", "--json").stdout) == {"total": 0, "count": 0, "offset": 0, "rows": []}


def test_search_json_ranked() -> None:
    r = run_zoo("search", "resnet", "imagenet", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["rows"]
    assert [h["name"] for h in hits] == ["resnet18", "resnet34", "resnet50"]
    assert all(h["score"] > 0 for h in hits)


def test_search_with_max_size() -> None:
    r = run_zoo("search", "inception", "--max-size", "200MB", "--json")
    assert "inception_v3" in [h["name"] for h in json.loads(r.stdout)["rows"]]
    r = run_zoo("search", "inception_v3", "--max-size", "100MB", "--json")
    assert "inception_v3" not in [h["name"] for h in json.loads(r.stdout)["rows"]]
    r = run_zoo("search", "inception", "glove", "--max-size", "100MB")
    assert r.returncode == 0 and "No models match 'inception glove'" in r.stdout


def test_bad_size_is_a_usage_error() -> None:
    r = run_zoo("search", "resnet", "--max-size", "big")
    assert r.returncode == 2
    assert r.stderr.strip() == "zoo: error: 'big' is not a size: write e.g. 500MB, 1.5GiB or 1000000"


def test_info_human() -> None:
    r = run_zoo("info", "resnet50")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("resnet50@a1_in1k  (default)")
    for text in ["ResNet-50", "apache-2.0", "25,557,032", "tv_in1k", "tv_legacy", "layer3", "773525d5821de224", "hf:timm/resnet50.a1_in1k"]:
        assert text in r.stdout


def test_info_json_version() -> None:
    r = run_zoo("info", "resnet50@tv_in1k", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["id"] == "resnet50@tv_in1k" and data["default"] == "a1_in1k"
    # The hand-written versions first, then the generated ones (timm tags, torchvision weights).
    assert data["versions"][:3] == ["a1_in1k", "tv_in1k", "tv_legacy"]
    assert {"a2_in1k", "tv_imagenet1k_v2"} <= set(data["versions"])
    assert data["license"] == "bsd-3-clause"
    (f,) = data["files"]
    assert f == {
        "path": "model.safetensors",
        "size": 102469840,
        "sha256": "5d061a3c593d795bfe682d9b152bafbcf550579873492def3515b46db1189888",
        "source": {"hf": "timm/resnet50.tv_in1k", "revision": "78f3ecfdb38e06d9b8397f662e7ab8fee96026fa", "file": "model.safetensors"},
    }
    assert {"name": "layer3", "channels": 1024, "stride": 16} in data["stages"]
    assert data["input"]["shape"] == [3, 224, 224]


def test_unknown_model_one_line_exit_3() -> None:
    r = run_zoo("info", "resnt50")
    assert r.returncode == 3
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "Did you mean 'resnet50'" in lines[0]


def test_unknown_version_exit_3() -> None:
    r = run_zoo("info", "resnet50@nope")
    assert r.returncode == 3
    assert "has no version 'nope'" in r.stderr and "a1_in1k" in r.stderr


def test_invalid_id_exit_2() -> None:
    r = run_zoo("info", "not a/valid/id")
    assert r.returncode == 2 and "not a valid model id" in r.stderr


def test_validate_ok() -> None:
    r = run_zoo("registry", "validate", str(SHIPPED))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: ")
    data = json.loads(run_zoo("registry", "validate", str(SHIPPED), "--json").stdout)
    assert data["ok"] is True and data["models"] >= 10


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    entry = shipped_model("resnet50")
    entry["versions"]["a1_in1k"]["files"][0]["sha256"] = "deadbeef"
    entry["versions"]["tv_in1k"]["colour"] = "blue"
    bad = write_registry(tmp_path / "bad.yaml", {"resnet50": entry})
    dup = write_registry(tmp_path / "dup.yaml", {"resnet50": shipped_model("resnet50")})
    r = run_zoo("registry", "validate", str(bad), str(dup))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{bad}: models.resnet50.versions.a1_in1k.files[0].sha256: must be a sha256 digest" in r.stderr
    assert f"{bad}: models.resnet50.versions.tv_in1k.colour: unknown key 'colour'" in r.stderr
    assert f"{dup}: models.resnet50: model 'resnet50' is already defined in {bad}" in r.stderr
    data = json.loads(run_zoo("registry", "validate", str(bad), str(dup), "--json").stdout)
    assert data["ok"] is False
    assert {i["code"] for i in data["issues"]} == {"sha256_format", "extra_forbidden", "duplicate_name"}


def test_malformed_extra_registry_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("schema_version: 1\nmodels:\n  x: [\n")
    r = run_zoo("list", env={"ZOO_REGISTRY": str(bad)})
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "invalid YAML" in r.stderr


def test_registry_option_merges(tmp_path: Path) -> None:
    extra = write_registry(tmp_path / "mine.yaml", {"my-model": shipped_model("resnet18") | {"aliases": []}})
    r = run_zoo("--registry", str(extra), "info", "my-model", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["registry_file"] == str(extra)
    assert run_zoo("info", "my-model").returncode == 3


def test_version_option() -> None:
    import zoo

    r = run_zoo("--version")
    assert r.returncode == 0 and zoo.__version__ in r.stdout
