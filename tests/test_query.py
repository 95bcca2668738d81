"""Listing at scale: sorting, filters with units, sources, paging, --json, ranking, the verified column, the listing file."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zoo
from conftest import SHIPPED, run_zoo, write_registry
from zoo import registry
from zoo.registry import ModelSummary, load_catalog, parse_count

TAG = "qtest"
CSV = "https://github.com/huggingface/pytorch-image-models/blob/aa4b5850c1543fa488abf260f18390eda46cf85d/results/results-imagenet.csv"
INPUT = {"shape": [3, 224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def _file(tier: str, size: int = 1_000_000) -> dict[str, Any]:
    url = {"url": "https://example.org/weights/m.bin"}
    return {
        "sha256": {"path": "m.bin", "size": size, "sha256": "a" * 64, "source": url},
        "sha384": {"path": "m.bin", "size": size, "hash": {"sha384": "b" * 96}, "source": url},
        "prefix": {"path": "m-0123abcd.pth", "hash": {"sha256_prefix": "0123abcd"}, "source": {"url": "https://download.pytorch.org/models/m-0123abcd.pth"}},
        "hub": {"path": "model.safetensors", "source": {"hf": "timm/m.x", "file": "model.safetensors"}},
        "md5": {"path": "m.bin", "size": size, "hash": {"md5": "c" * 32}, "source": url},
        "sha1": {"path": "m.bin", "size": size, "hash": {"sha1": "d" * 40}, "source": url},
    }[tier]


def _version(
    top1: float | None = None, *, params: int | None = None, gmacs: float | None = None, tier: str = "sha256",
    size: int = 1_000_000, adapter: str = "timm", ids: list[str] | None = None, year: int | None = None,
) -> dict[str, Any]:
    metrics = []
    if top1 is not None:
        # Two resolutions, as timm's table gives them: the listing shows the one at the input size (224).
        metrics.append({"name": "top1", "value": top1 + 1.5, "dataset": "imagenet-1k", "resolution": 288, "source": CSV})
        metrics.append({"name": "top1", "value": top1, "dataset": "imagenet-1k", "resolution": 224, "source": CSV})
    if gmacs is not None:
        metrics.append({"name": "gmacs", "value": gmacs, "resolution": 224, "hardware": "i7-12700H, fp32", "source": CSV})
    v: dict[str, Any] = {"adapter": adapter, "arch": "resnet50", "license": "apache-2.0", "input": INPUT, "files": [_file(tier, size)]}
    if params is not None:
        v["params"] = params
    if metrics:
        v["metrics"] = metrics
    if ids:
        v["ids"] = ids
    if year:
        v["paper"] = {"title": "Weights", "url": "https://arxiv.org/abs/2110.00476", "year": year}
    return v


def _model(versions: dict[str, dict[str, Any]], default: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "task": "image-classification",
        "modality": "vision",
        "architecture": extra.pop("architecture", "ResNet"),
        "paper": {"title": "A paper", "url": "https://arxiv.org/abs/1512.03385"},
        "tags": [TAG],
        "default": default or next(iter(versions)),
        "versions": versions,
        **extra,
    }


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    """A registry folder: generated timm and torchvision files, plus one hand-written file."""
    folder = tmp_path / "reg"
    write_registry(
        folder / "generated" / "timm.yaml",
        {
            "resnet50": _model(
                {
                    "a1_in1k": _version(80.4, params=25_557_032, gmacs=4.1, tier="hub", ids=["resnet50.a1_in1k"], year=2021),
                    "a1h_in1k": _version(80.7, params=25_557_032, gmacs=4.1, tier="hub", ids=["resnet50.a1h_in1k"]),
                    "tv_in1k": _version(76.1, params=25_557_032, tier="prefix", adapter="torchvision"),
                }
            ),
            "resnet50d": _model({"a1_in1k": _version(81.5, params=25_576_264, gmacs=4.4, tier="hub")}),
            "ecaresnet50t": _model({"a1_in1k": _version(82.4, params=25_573_232, gmacs=4.3, tier="hub")}),
            "efficientnet_b3": _model({"ra2_in1k": _version(82.1, params=12_233_232, gmacs=1.6, tier="hub", year=2019)}),
            "efficientnet_b3_pruned": _model({"in1k": _version(80.9, params=9_860_000, gmacs=1.0, tier="hub")}),
            "tf_efficientnet_b3": _model({"aa_in1k": _version(81.6, params=12_233_232, gmacs=1.9, tier="hub")}),
            "vit_huge": _model({"in21k": _version(None, params=632_000_000, tier="hub")}, architecture="ViT"),
        },
    )
    write_registry(
        folder / "generated" / "torchvision.yaml",
        {"fasterrcnn": _model({"tv_coco": _version(None, params=41_755_286, tier="prefix", adapter="torchvision")}, task="object-detection")},
    )
    write_registry(
        folder / "mine.yaml",
        {
            "omz-net": _model({"v1": _version(70.0, params=5_000_000, tier="sha384", size=20_000_000)}),
            "legacy-md5": _model({"v1": _version(None, tier="md5", size=300_000_000)}),
            "legacy-sha1": _model({"v1": _version(None, tier="sha1")}),
            "pinned": _model({"v1": _version(None, tier="sha256", size=50_000_000)}),
        },
    )
    return folder


def _mine(**kwargs: Any) -> list[ModelSummary]:
    return zoo.list_models(tag=TAG, **kwargs)


def _top1s(rows: list[ModelSummary]) -> list[float | None]:
    return [r.top1 for r in rows]


# ---- sorting ---------------------------------------------------------------------


def test_sort_by_metric_descending_missing_last(reg: Path) -> None:
    rows = zoo.list_models(tag=TAG, sort="-top1", registries=[reg])
    values = _top1s(rows)
    known = [v for v in values if v is not None]
    assert known == sorted(known, reverse=True) and known[0] == 82.4
    assert values[len(known) :] == [None] * (len(values) - len(known)) and len(known) < len(values)
    # The value at the version's input resolution (224), not the 288 one.
    assert rows[0].name == "ecaresnet50t" and rows[0].metric("top1") == 82.4


def test_sort_ascending_also_puts_missing_last(reg: Path) -> None:
    values = _top1s(zoo.list_models(tag=TAG, sort="top1", registries=[reg]))
    known = [v for v in values if v is not None]
    assert known == sorted(known) and values[-1] is None


@pytest.mark.parametrize("key", ["params", "size", "gmacs", "year", "name"])
def test_sort_other_keys(reg: Path, key: str) -> None:
    rows = zoo.list_models(tag=TAG, all_versions=True, sort=f"-{key}", registries=[reg])
    get = {
        "params": lambda r: r.params,
        "size": lambda r: r.size if r.size_known else None,
        "gmacs": lambda r: r.metric("gmacs"),
        "year": lambda r: r.year,
        "name": lambda r: r.name,
    }[key]
    values = [get(r) for r in rows]
    known = [v for v in values if v is not None]
    assert known and values[: len(known)] == known
    if key != "name":
        assert known == sorted(known, reverse=True)
    else:
        assert values[0] == "vit_huge" and values[-1] == "ecaresnet50t"


def test_unknown_sort_key_is_an_error(reg: Path) -> None:
    with pytest.raises(ValueError, match="cannot sort by 'top-1'"):
        zoo.list_models(sort="top-1", registries=[reg])
    r = run_zoo("--registry", str(reg), "list", "--sort", "top-1")
    assert r.returncode == 2 and "cannot sort by 'top-1'" in r.stderr and "top1" in r.stderr


# ---- filters and units -----------------------------------------------------------


def test_min_top1_and_sort(reg: Path) -> None:
    rows = zoo.list_models(tag=TAG, min_top1=80, sort="-top1", all_versions=True, registries=[reg])
    assert rows and all(r.top1 is not None and r.top1 >= 80 for r in rows)
    assert {r.id for r in rows} == {
        "ecaresnet50t@a1_in1k", "efficientnet_b3@ra2_in1k", "tf_efficientnet_b3@aa_in1k", "resnet50d@a1_in1k",
        "efficientnet_b3_pruned@in1k", "resnet50@a1h_in1k", "resnet50@a1_in1k",
    }


def test_a_filter_picks_the_version_that_passes(reg: Path) -> None:
    (row,) = [r for r in zoo.list_models(tag=TAG, min_top1=80.5, registries=[reg]) if r.name == "resnet50"]
    assert row.version == "a1h_in1k" and row.default == "a1_in1k"


@pytest.mark.parametrize(
    "text, expected", [("30M", 30_000_000), ("1.5G", 1_500_000_000), ("500k", 500_000), ("2.5K", 2500), ("25000000", 25_000_000), (7, 7)]
)
def test_parse_count(text: str | int, expected: int) -> None:
    assert parse_count(text) == expected


def test_parse_count_rejects() -> None:
    with pytest.raises(ValueError, match="not a count"):
        parse_count("30MB")


def test_max_params_gmacs_size_with_units(reg: Path) -> None:
    assert {r.name for r in _mine(max_params="13M", registries=[reg])} == {"efficientnet_b3", "efficientnet_b3_pruned", "tf_efficientnet_b3", "omz-net"}
    assert {r.name for r in _mine(max_gmacs=1.7, registries=[reg])} == {"efficientnet_b3", "efficientnet_b3_pruned"}
    # Hub and prefix files publish no size: they never pass a size limit.
    assert {r.name for r in _mine(max_size="60MB", registries=[reg])} == {"omz-net", "pinned", "legacy-sha1"}
    assert {r.name for r in _mine(max_size="19MiB", registries=[reg])} == {"legacy-sha1"}
    r = run_zoo("--registry", str(reg), "list", "--tag", TAG, "--max-params", "13M", "--max-gmacs", "1.7", "--json")
    assert {row["name"] for row in json.loads(r.stdout)["rows"]} == {"efficientnet_b3", "efficientnet_b3_pruned"}
    r = run_zoo("--registry", str(reg), "list", "--max-params", "lots")
    assert r.returncode == 2 and "'lots' is not a count" in r.stderr


def test_task_filter_sees_detection(reg: Path) -> None:
    assert [r.name for r in _mine(task="object-detection", registries=[reg])] == ["fasterrcnn"]


# ---- sources ---------------------------------------------------------------------


def test_source_of_each_version(reg: Path) -> None:
    rows = {r.id: r.source for r in _mine(all_versions=True, registries=[reg])}
    assert rows["resnet50@a1_in1k"] == "timm"
    # A torchvision weight merged into a timm architecture, from download.pytorch.org: torchvision's.
    assert rows["resnet50@tv_in1k"] == "torchvision"
    assert rows["fasterrcnn@tv_coco"] == "torchvision"
    assert rows["omz-net@v1"] == "curated" and rows["pinned@v1"] == "curated"
    shipped = {r.id: r.source for r in zoo.list_models(all_versions=True)}
    assert shipped["resnet50@tv_legacy"] == "curated"  # a hand-written file of the shipped registry


def test_source_filter(reg: Path) -> None:
    assert {r.id for r in _mine(source="torchvision", all_versions=True, registries=[reg])} == {"resnet50@tv_in1k", "fasterrcnn@tv_coco"}
    (r50,) = [r for r in _mine(source="torchvision", registries=[reg]) if r.name == "resnet50"]
    assert r50.version == "tv_in1k"
    assert "resnet50" not in {r.name for r in _mine(source="curated", registries=[reg])}
    with pytest.raises(ValueError, match="not a source"):
        zoo.list_models(source="pytorch-hub")
    r = run_zoo("--registry", str(reg), "list", "--source", "timm", "--json")
    rows = json.loads(r.stdout)["rows"]
    assert rows and {row["source"] for row in rows} == {"timm"}
    assert run_zoo("list", "--source", "nope").returncode == 2


# ---- paging and --json -----------------------------------------------------------


def test_pages_cover_every_row_once(reg: Path) -> None:
    everything = _mine(all_versions=True, registries=[reg])
    assert everything.total == len(everything) == 14 and everything.offset == 0
    pages = [_mine(all_versions=True, limit=4, offset=k, registries=[reg]) for k in range(0, 16, 4)]
    assert [len(p) for p in pages] == [4, 4, 4, 2] and {p.total for p in pages} == {14}
    assert [r.id for p in pages for r in p] == [r.id for r in everything]
    assert pages[0].remaining == 10 and pages[-1].remaining == 0
    assert len(_mine(registries=[reg])) == 12  # one row per model


def test_json_shape_and_paging(reg: Path) -> None:
    r = run_zoo("--registry", str(reg), "list", "--tag", TAG, "--all-versions", "--json", "--limit", "5", "--offset", "2")
    assert r.returncode == 0, r.stderr
    page = json.loads(r.stdout)
    assert set(page) == {"total", "count", "offset", "rows"}
    assert page["total"] == 14 and page["count"] == 5 and page["offset"] == 2 and len(page["rows"]) == 5
    row = page["rows"][0]
    assert set(row) >= {"id", "name", "version", "task", "modality", "params", "size", "license", "verification", "source", "top1", "metrics"}
    # --json gives every row unless --limit says otherwise.
    assert json.loads(run_zoo("--registry", str(reg), "list", "--json").stdout)["count"] == len(zoo.list_models(registries=[reg]))


def test_every_summary_field_is_set() -> None:
    (row,) = zoo.list_models(limit=1)
    assert set(row.__dict__) == {f.name for f in dataclasses.fields(ModelSummary)}
    assert row.to_dict()["id"] == row.id


def test_table_footer_counts_the_rest(reg: Path) -> None:
    r = run_zoo("--registry", str(reg), "list", "--tag", TAG, "--limit", "3", "--sort", "-top1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "TASK", "MODALITY", "PARAMS", "TOP-1", "SIZE", "LICENSE", "VERIFIED"]
    assert [line.split()[0] for line in lines[1:4]] == ["ecaresnet50t", "efficientnet_b3", "tf_efficientnet_b3"]
    assert lines[-1] == "9 more (use --limit or --all)"
    full = run_zoo("--registry", str(reg), "list", "--tag", TAG, "--all")
    assert len(full.stdout.splitlines()) == 13 and "more (use" not in full.stdout
    bad = run_zoo("list", "--all", "--limit", "3")
    assert bad.returncode == 2 and "not both" in bad.stderr


def test_sorted_metric_gets_a_column(reg: Path) -> None:
    r = run_zoo("--registry", str(reg), "list", "--tag", TAG, "--sort", "gmacs", "--limit", "1")
    header, first = r.stdout.splitlines()[:2]
    assert "GMACS" in header.split() and first.split()[0] == "efficientnet_b3_pruned" and "1.00" in first.split()


def _run_on_terminal(*args: str, env: dict[str, str]) -> str:
    """Runs the CLI with its stdout on a pseudo-terminal; returns what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "zoo_cli", *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    return out.decode()


def test_a_terminal_gets_a_screenful(tmp_path: Path) -> None:
    many = {f"m{i:03d}": _model({"v": _version(50 + i / 10, tier="sha256")}, tags=["many"]) for i in range(70)}
    extra = write_registry(tmp_path / "many.yaml", many)
    env = {**os.environ, "COLUMNS": "200"}
    out = _run_on_terminal("--registry", str(extra), "list", "--tag", "many", env=env)
    lines = [line for line in out.replace("\r", "").splitlines() if line.strip()]
    assert "\x1b[1m" in lines[0]  # a bold header on a terminal
    assert len(lines) == 1 + 50 + 1 and lines[-1] == "20 more (use --limit or --all)"
    out = _run_on_terminal("--registry", str(extra), "list", "--tag", "many", "--all", env=env)
    assert len([line for line in out.splitlines() if line.strip()]) == 71
    # Piped, the table has every row (grep sees them all).
    assert len(run_zoo("--registry", str(extra), "list", "--tag", "many").stdout.splitlines()) == 71


# ---- search ranking --------------------------------------------------------------


def test_exact_name_first(reg: Path) -> None:
    hits = zoo.search("resnet50", tag=TAG, registries=[reg])
    assert [h.name for h in hits[:3]] == ["resnet50", "resnet50d", "ecaresnet50t"]
    assert hits[0].score > hits[1].score > hits[2].score
    assert zoo.search("resnet50", registries=[reg])[0].name == "resnet50"


@pytest.mark.parametrize("query", ["efficientnet_b3", "efficientnet b3", "efficientnet-b3", "EfficientNet-B3", "EFFICIENTNET_B3"])
def test_separators_and_case_do_not_matter(reg: Path, query: str) -> None:
    hits = zoo.search(query, tag=TAG, registries=[reg])
    assert hits[0].name == "efficientnet_b3"
    assert zoo.search(query, registries=[reg])[0].name == "efficientnet_b3"
    assert {"efficientnet_b3_pruned", "tf_efficientnet_b3"} <= {h.name for h in hits}
    assert hits[0].score > max(h.score for h in hits[1:])


def test_a_version_word_shows_that_version(reg: Path) -> None:
    hits = zoo.search("resnet50 a1h", registries=[reg])
    assert hits[0].id == "resnet50@a1h_in1k"
    assert zoo.search("resnet50 a1", registries=[reg])[0].id == "resnet50@a1_in1k"


@pytest.mark.parametrize("query, expected", [("resnet50.a1h_in1k", "resnet50@a1h_in1k"), ("resnet50@tv_in1k", "resnet50@tv_in1k")])
def test_publisher_and_zoo_ids(reg: Path, query: str, expected: str) -> None:
    assert zoo.search(query, registries=[reg])[0].id == expected


def test_filters_combine_with_words(reg: Path) -> None:
    assert [h.name for h in zoo.search("efficientnet", tag=TAG, max_gmacs=1.7, sort="-top1", registries=[reg])] == [
        "efficientnet_b3",
        "efficientnet_b3_pruned",
    ]
    assert [h.id for h in zoo.search("resnet50", tag=TAG, source="torchvision", registries=[reg])] == ["resnet50@tv_in1k"]
    assert zoo.search("resnet50", tag=TAG, min_top1=90, registries=[reg]) == []
    r = run_zoo("--registry", str(reg), "search", "efficientnet", "b3", "--tag", TAG, "--json", "--limit", "2")
    page = json.loads(r.stdout)
    assert page["count"] == 2 and page["total"] == 3 and page["rows"][0]["name"] == "efficientnet_b3"


def test_search_all_versions(reg: Path) -> None:
    ids = [h.id for h in zoo.search("resnet50", all_versions=True, registries=[reg])]
    assert ids[:3] == ["resnet50@a1_in1k", "resnet50@a1h_in1k", "resnet50@tv_in1k"]


# ---- the verified column and info -------------------------------------------------


def test_verified_column_every_tier(reg: Path) -> None:
    tiers = {r.id: r.verification for r in _mine(all_versions=True, registries=[reg])}
    assert tiers["pinned@v1"] == "sha256"
    assert tiers["omz-net@v1"] == "sha384"
    assert tiers["resnet50@tv_in1k"] == "prefix"
    assert tiers["resnet50@a1_in1k"] == "hub"
    assert tiers["legacy-md5@v1"] == "weak (md5)"
    assert tiers["legacy-sha1@v1"] == "weak (sha1)"
    r = run_zoo("--registry", str(reg), "list", "--tag", TAG, "--all-versions")
    cells = {line.split()[0] + "@" + line.split()[1]: line for line in r.stdout.splitlines()[1:]}
    assert cells["legacy-md5@v1"].endswith("weak (md5)") and cells["omz-net@v1"].endswith("sha384")
    assert zoo.info("omz-net", registries=[reg]).verification == "sha384"


def test_info_shows_metrics_source_and_ids(reg: Path) -> None:
    r = run_zoo("--registry", str(reg), "info", "resnet50")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "metric:       top1 = 80.4 on imagenet-1k @ 224 (" + CSV + ")" in out
    assert "metric:       top1 = 81.9 on imagenet-1k @ 288" in out
    assert "metric:       gmacs = 4.1 @ 224, i7-12700H, fp32 (" + CSV + ")" in out
    assert "source:       timm" in out and "ids:          resnet50.a1_in1k" in out
    assert "verified:     hub" in out and "hf:timm/m.x (commit resolved on first pull)" in out
    assert "unknown (the publisher gives no size" in out
    tv = run_zoo("--registry", str(reg), "info", "resnet50@tv_in1k").stdout
    assert "source:       torchvision" in tv and "sha256 prefix 0123abcd" in tv
    info = zoo.info("resnet50", registries=[reg]).to_dict()
    assert info["source"] == "timm" and tuple(info["ids"]) == ("resnet50.a1_in1k",)


# ---- the listing file ------------------------------------------------------------


def test_listing_holds_the_same_records_as_the_json_index(reg: Path, zoo_env: Path) -> None:
    before = set((zoo_env / "index").glob("registry-*.json"))  # the shipped registry's, copied in by conftest
    load_catalog([reg])
    registry._CATALOGS.clear()
    catalog = load_catalog([reg])  # now from the listing
    (index,) = [p for p in (zoo_env / "index").glob("registry-*.json") if p not in before]
    data = json.loads(index.read_text())
    assert list(catalog.models) == sorted(data["models"], key=registry._listing.natural)
    assert {name: catalog.models[name] for name in catalog.models} == data["models"]
    assert dict(catalog.models.items()) == data["models"]
    assert catalog.aliases == data["aliases"]


def test_cold_listing_reads_neither_json_nor_yaml(reg: Path, zoo_env: Path) -> None:
    code = (
        "import sys, io, contextlib\n"
        "from zoo_cli.main import cli\n"
        f"for args in (['list'], ['search', 'resnet50 a1'], ['info', 'resnet50'], ['list', '--sort', '-top1']):\n"
        f"    with contextlib.redirect_stdout(io.StringIO()):\n"
        f"        cli.main(args=['--registry', {str(reg)!r}, *args], prog_name='zoo', standalone_mode=False)\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = {"ZOO_HOME": str(zoo_env), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)  # builds the index
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
    loaded = set(out.stdout.split())
    # The listing is marshal: no JSON parser, no YAML, no pydantic, no hashing module on the cold path.
    assert not loaded & {"json", "yaml", "pydantic", "zoo.schema", "zoo._hashing", "hashlib", "difflib", "rich"}


# ---- the shipped registry --------------------------------------------------------


def test_shipped_registry_ranking() -> None:
    names = {m.name for m in zoo.list_models()}
    hits = [h.name for h in zoo.search("resnet50")]
    assert hits[0] == "resnet50"
    if {"resnet50d", "ecaresnet50t"} <= names:
        assert hits.index("resnet50d") < hits.index("ecaresnet50t")
    if "efficientnet_b3" in names:
        for query in ("efficientnet_b3", "efficientnet b3", "efficientnet-b3", "EfficientNet-B3"):
            assert zoo.search(query)[0].name == "efficientnet_b3", query


def test_shipped_registry_sorted_by_top1() -> None:
    r = run_zoo("list", "--all-versions", "--sort", "-top1", "--min-top1", "80", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    values = [row["top1"] for row in rows]
    assert all(v is not None and v >= 80 for v in values)
    assert values == sorted(values, reverse=True)
    everything = json.loads(run_zoo("list", "--all-versions", "--json").stdout)
    assert everything["total"] == everything["count"] == sum(len(m.versions) for m in zoo.list_models())
    with_top1 = [row for row in everything["rows"] if row["top1"] is not None and row["top1"] >= 80]
    assert len(with_top1) == len(rows)


def test_shipped_registry_is_listed_from_its_folder() -> None:
    assert SHIPPED.is_dir() and len(zoo.list_models()) >= 10


def test_same_answers_built_and_read_back(reg: Path) -> None:
    def answers() -> list[Any]:
        return [
            [(h.id, h.score) for h in zoo.search("resnet50 a1", registries=[reg])],
            [(h.id, h.score) for h in zoo.search("efficientnet b3", all_versions=True, registries=[reg])],
            [h.id for h in zoo.search("", registries=[reg])],
            [r.to_dict() for r in zoo.list_models(limit=5, offset=3, registries=[reg])],
            [r.id for r in zoo.list_models(sort="-top1", all_versions=True, registries=[reg])],
            zoo.info("resnet50@tv_in1k", registries=[reg]).to_dict(),
        ]

    built = answers()  # the first call validates the YAML and builds the rows in memory
    registry._CATALOGS.clear()
    assert answers() == built  # now every answer comes from the listing file
    # The one-page shortcut of an unfiltered listing gives the page a full listing gives.
    page = zoo.list_models(limit=5, offset=3, registries=[reg])
    assert [r.to_dict() for r in page] == [r.to_dict() for r in zoo.list_models(registries=[reg])[3:8]]
    assert page.total == len(zoo.list_models(registries=[reg]))


def test_cli_sources_are_the_registry_sources() -> None:
    from zoo_cli import main

    assert main._SOURCES == registry._listing.SOURCES


def test_a_plain_listing_hides_remote_code_models_and_still_reads_only_its_page() -> None:
    registry._CATALOGS.clear()
    zoo.list_models()  # writes the listing
    registry._CATALOGS.clear()
    page = zoo.list_models(limit=20, offset=100)
    records = registry.load_catalog().models
    whole, mixed = records.requirements
    assert whole and not mixed  # the shipped registry: the MTEB versions mteb loads with trust_remote_code
    assert records._rows is None and len(records._row_cache) == 20  # the page's rows, no more
    every = zoo.list_models(include_remote_code=True)
    assert page.total == every.total - len(whole)
    visible = [m.name for m in every if not m.requires]
    assert [m.name for m in page] == visible[100:120]
    assert not any(m.requires for m in zoo.list_models())
