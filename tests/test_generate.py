"""The generated registry (registry/generated/): reproducible from the manifests, valid, merged under the
hand-written entries, every publisher id resolving, published metrics kept, and diffs that shout."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SHIPPED, run_zoo, write_registry

import zoo
from zoo.errors import RegistryError
from zoo.registry import validate_paths
from zoo.registry._load import _build_index, _json_body, registry_parts
from zoo.registry.generate import FILES, SOURCES, default_manifests, generate
from zoo.registry.generate._writer import dump, scalar

GENERATED = SHIPPED / "generated"
MANIFESTS = default_manifests()
needs_manifests = pytest.mark.skipif(not MANIFESTS.is_dir(), reason=f"the upstream manifests are not at {MANIFESTS}")

# What registry/generated holds (the figures the generator reports): versions and models per source.
COUNTS = {
    "timm": (1771, 1104),
    "torchvision": (162, 119),
    "onnx-zoo": (183, 61),
    "omz": (50, 49),
    "gensim": (12, 12),
    "mteb": (538, 538),
}
TIERS = {
    "timm": {"hub": 1771},
    "torchvision": {"prefix": 160, "sha384": 2},
    "onnx-zoo": {"sha256": 183},
    "omz": {"sha384": 41, "sha256": 9},
    "gensim": {"weak (md5)": 12},
    "mteb": {"hub": 538},
}


def _data(source: str) -> dict[str, Any]:
    data = _json_body((GENERATED / FILES[source]).read_text(encoding="utf-8"))
    assert data is not None, f"{FILES[source]} is not JSON-flavoured YAML"
    return data


# ---- reproducible ---------------------------------------------------------------------------------


def _regenerate(tmp_path: Path, sources: tuple[str, ...]) -> None:
    report = generate(tmp_path, sources, manifests=MANIFESTS)
    for source in sources:
        fresh = (tmp_path / FILES[source]).read_bytes()
        committed = (GENERATED / FILES[source]).read_bytes()
        assert fresh == committed, (
            f"registry/generated/{FILES[source]} differs from a fresh run: "
            f"run 'zoo registry generate --source {source} -o registry/generated' and review 'zoo registry diff'"
        )
        assert (report.versions[source], report.models[source]) == COUNTS[source]


@needs_manifests
def test_regenerating_torchvision_onnx_omz_gensim_mteb_gives_the_committed_bytes(tmp_path: Path) -> None:
    _regenerate(tmp_path, ("torchvision", "onnx-zoo", "omz", "gensim", "mteb"))


@pytest.mark.slow
@needs_manifests
def test_regenerating_timm_gives_the_committed_bytes(tmp_path: Path) -> None:
    # ~1 min: each of 1,771 architectures is built on the meta device to count its parameters.
    _regenerate(tmp_path, ("timm",))


def test_generated_files_read_the_same_as_yaml_and_as_json() -> None:
    for source in SOURCES:
        text = (GENERATED / FILES[source]).read_text(encoding="utf-8")
        assert _json_body(text) == yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), source


def test_writer_values_read_back_exactly() -> None:
    values = [1e-05, 2.5e20, 0.1, 80.382, 3, True, None, "yes", "null", "1.0", "a: b # c", "ünï", 'q"uote']
    models = {"m": {"task": "word-embedding", "modality": "text", "architecture": "x", "default": "v",
                    "versions": {"v": {"adapter": "onnx", "arch": "a", "license": "l", "tags": [], "x": values}}}}
    text = dump(models, ["header"])
    assert _json_body(text)["models"]["m"]["versions"]["v"]["x"] == values
    assert yaml.safe_load(text)["models"]["m"]["versions"]["v"]["x"] == values
    assert scalar(1e-05) == "1.0e-05"  # YAML 1.1 would read 1e-05 as a string


def test_generated_header_names_manifests_and_versions() -> None:
    head = (GENERATED / "timm.yaml").read_text(encoding="utf-8").split("\n{", 1)[0]
    assert "timm 1.0.31" in head and "aa4b5850c1543fa488abf260f18390eda46cf85d" in head
    assert "torchvision 0.29.1" in (GENERATED / "torchvision.yaml").read_text(encoding="utf-8")[:2000]
    assert "b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d" in (GENERATED / "onnx-zoo.yaml").read_text(encoding="utf-8")[:2000]
    assert "bd93f51f7536dbf84f194cd8a81c0644b7b95b41" in (GENERATED / "gensim.yaml").read_text(encoding="utf-8")[:2000]


# ---- valid, counted, no collisions ---------------------------------------------------------------


def test_every_generated_entry_is_valid() -> None:
    counts = validate_paths([GENERATED])
    assert counts["versions"] == sum(v for v, _ in COUNTS.values())
    shipped = validate_paths([SHIPPED])
    assert shipped["versions"] >= 2000
    assert shipped["files"] == len(list(SHIPPED.glob("*.yaml"))) + len(SOURCES)


@pytest.mark.parametrize("source", SOURCES)
def test_counts_and_tiers_per_source(source: str) -> None:
    from collections import Counter

    from zoo._hashing import tier_of_version

    models = _data(source)["models"]
    versions = [v for m in models.values() for v in m["versions"].values()]
    assert (len(versions), len(models)) == COUNTS[source]
    assert dict(Counter(tier_of_version(v) for v in versions)) == TIERS[source]


def test_no_name_alias_or_id_collision() -> None:
    index = _build_index([registry_parts(SHIPPED)])  # raises on any collision
    models, aliases, ids = index["models"], index["aliases"], index["ids"]
    assert len(index["models"]) > 1200
    written = [i.lower() for m in models.values() for v in m["versions"].values() for i in v.get("ids", ())]
    assert len(written) == len(set(written)) == len(ids) > 2000
    assert not (set(ids) & (set(models) | set(aliases)))
    for target in ids.values():
        name, _, version = target.partition("@")
        assert version in models[name]["versions"]


def test_timm_files_are_hub_pinned_without_revision_or_hash() -> None:
    v = _data("timm")["models"]["resnet50"]["versions"]["a2_in1k"]
    assert v["files"] == [{"path": "model.safetensors", "source": {"hf": "timm/resnet50.a2_in1k", "file": "model.safetensors"}}]
    assert "stages" not in v and v["params"] == 25557032


def test_torchvision_prefix_and_omz_sha384_pins() -> None:
    tv = _data("torchvision")["models"]
    (f,) = tv["resnet50"]["versions"]["tv_imagenet1k_v2"]["files"]
    assert f == {"path": "resnet50-11ad3fa6.pth", "hash": {"sha256_prefix": "11ad3fa6"}, "source": {"url": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"}}
    # The same URL in OMZ's mobilenet-v2-pytorch/model.yml: exact size + SHA-384, and OMZ's name as an id.
    v = tv["mobilenet_v2"]["versions"]["tv_imagenet1k_v1"]
    assert v["files"][0]["size"] == 14212972 and len(v["files"][0]["hash"]["sha384"]) == 96
    assert "mobilenet-v2-pytorch" in v["ids"]
    assert tv["inception_v3"]["versions"]["tv_imagenet1k_v1"]["arch_args"] == {"init_weights": False, "transform_input": True}


# ---- merged under the hand-written entries -------------------------------------------------------


def test_curated_entries_win_and_generated_versions_remain() -> None:
    curated = zoo.info("resnet50@a1_in1k")
    assert curated.registry_file.endswith("registry/resnet.yaml")
    assert curated.architecture == "ResNet-50" and curated.default == "a1_in1k"
    assert curated.files[0].sha256.startswith("773525d5")  # the hand-written pin, not the hub tier
    generated = zoo.info("resnet50@a2_in1k")
    assert generated.registry_file.endswith("registry/generated/timm.yaml")
    assert generated.verification == "hub"
    assert "tv_imagenet1k_v2" in curated.versions and curated.versions[:3] == ("a1_in1k", "tv_in1k", "tv_legacy")
    # OMZ's resnet-50-pytorch is the hand-written tv_legacy file: one version, with OMZ's name as an id.
    assert "omz" not in curated.versions
    assert zoo.info("resnet-50-pytorch").id == "resnet50@tv_legacy"


def test_generated_model_named_as_a_curated_alias_joins_it() -> None:
    # 'googlenet' (torchvision, ONNX Model Zoo) and 'inception-v1' (ONNX) are aliases of bvlc_googlenet.
    info = zoo.info("bvlc_googlenet")
    assert info.default == "bvlc" and info.adapter == "caffe"
    assert {"tv_imagenet1k_v1", "opset7", "inception-v1-opset7"} <= set(info.versions)
    assert zoo.info("inception-v1-7").id == "bvlc_googlenet@inception-v1-opset7"
    assert zoo.info("googlenet").id == "bvlc_googlenet@bvlc"


def test_version_level_merge_rules(tmp_path: Path) -> None:
    folder = tmp_path / "reg"
    same_file = {"path": "w.pth", "size": 123, "hash": {"sha384": "a" * 96}, "source": {"url": "https://example.org/omz/w.pth"}}
    metric = {"name": "top1", "value": 70.5, "source": "https://example.org/results.csv", "dataset": "imagenet-1k", "resolution": 8}

    def version(files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"adapter": "onnx", "arch": "m.onnx", "license": "mit", "files": files, **extra}

    gen_file = {"path": "m.onnx", "size": 10, "sha256": "b" * 64, "source": {"url": "https://example.org/m.onnx"}}
    write_registry(folder / "generated" / "x.yaml", {
        "m": {"task": "image-embedding", "modality": "vision", "architecture": "M", "default": "v1", "versions": {
            "v1": version([gen_file], ids=["M.v1"], metrics=[metric]),
            "v2": version([{"path": "n.onnx", "size": 11, "sha256": "d" * 64, "source": {"url": "https://example.org/n.onnx"}}], ids=["M-2"]),
            "omz": version([same_file], ids=["m-omz"]),
        }},
    })
    hand_file = {"path": "w.pth", "size": 123, "sha256": "c" * 64, "source": {"url": "https://example.org/orig/w.pth"}}
    write_registry(folder / "m.yaml", {
        "m": {"task": "image-classification", "modality": "vision", "architecture": "M (hand)", "default": "hand", "versions": {
            "v1": version([gen_file], description="hand-written"),
            "hand": version([hand_file]),
        }},
    })
    assert validate_paths([folder])["versions"] == 3
    record = _build_index([registry_parts(folder)])["models"]["m"]
    versions = record["versions"]
    assert list(versions) == ["v1", "hand", "v2"]  # hand-written first; 'omz' was the same file as 'hand'
    assert record["architecture"] == "M (hand)" and record["default"] == "hand"
    assert versions["v1"]["description"] == "hand-written" and versions["v1"]["ids"] == ["M.v1"]
    assert versions["v1"]["metrics"] == [metric]  # published figures fill a hand-written version that has none
    assert versions["hand"]["ids"] == ["m-omz"]
    assert versions["v2"]["registry_file"].endswith("generated/x.yaml")
    assert versions["v2"]["task"] == "image-embedding"  # the generated model's task, kept on its version
    ids = _build_index([registry_parts(folder)])["ids"]
    assert ids == {"m.v1": "m@v1", "m-2": "m@v2", "m-omz": "m@hand"}


def test_two_generated_files_may_not_define_one_version(tmp_path: Path) -> None:
    v = {"adapter": "onnx", "arch": "m.onnx", "license": "mit",
         "files": [{"path": "m.onnx", "size": 10, "sha256": "b" * 64, "source": {"url": "https://example.org/m.onnx"}}]}
    entry = {"task": "image-classification", "modality": "vision", "architecture": "M", "default": "v1", "versions": {"v1": v}}
    write_registry(tmp_path / "reg" / "generated" / "a.yaml", {"m": entry})
    write_registry(tmp_path / "reg" / "generated" / "b.yaml", {"m": entry})
    with pytest.raises(RegistryError) as info:
        validate_paths([tmp_path / "reg"])
    assert [i.code for i in info.value.issues] == ["duplicate_name"]


@pytest.mark.parametrize(
    "ids_a, ids_b, alias",
    [(["Same.Id"], ["same.id"], None), (["taken"], [], "taken")],
    ids=["two versions, one id", "an id that is an alias"],
)
def test_id_collisions_are_registry_errors(tmp_path: Path, ids_a: list[str], ids_b: list[str], alias: str | None) -> None:
    def entry(ids: list[str], url: str) -> dict[str, Any]:
        f = {"path": "m.onnx", "size": 10, "sha256": "b" * 64, "source": {"url": url}}
        return {"task": "image-classification", "modality": "vision", "architecture": "M", "default": "v",
                "versions": {"v": {"adapter": "onnx", "arch": "m.onnx", "license": "mit", "files": [f], "ids": ids}}}

    b = entry(ids_b, "https://example.org/b.onnx")
    if alias:
        b["aliases"] = [alias]
    path = write_registry(tmp_path / "r.yaml", {"a": entry(ids_a, "https://example.org/a.onnx"), "b": b})
    with pytest.raises(RegistryError) as info:
        validate_paths([path])
    assert "duplicate_id" in [i.code for i in info.value.issues]


# ---- publisher ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pid, expected",
    [
        ("resnet50.a1_in1k", "resnet50@a1_in1k"),
        ("RESNET50.A2_IN1K", "resnet50@a2_in1k"),
        ("mobilenetv2-7", "mobilenetv2@opset7"),
        ("resnet50-v1-12-int8", "resnet50-v1@opset12-int8"),
        ("ResNet50_Weights.IMAGENET1K_V2", "resnet50@tv_imagenet1k_v2"),
        ("ResNet50_Weights.DEFAULT", "resnet50@tv_imagenet1k_v2"),
        ("FasterRCNN_ResNet50_FPN_Weights.COCO_V1", "fasterrcnn_resnet50_fpn@tv_coco_v1"),
        ("mobilenet-v2-pytorch", "mobilenet_v2@tv_imagenet1k_v1"),
        ("face-recognition-resnet100-arcface-onnx", "arcfaceresnet100@opset8"),
        ("Sphereface", "sphereface@omz-caffe"),
        ("glove-twitter-25", "glove-twitter-25@gensim"),
        ("BAAI/bge-small-en-v1.5", "bge-small-en-v1.5@hf_5c38ec7"),
        ("baai/BGE-small-en-v1.5", "bge-small-en-v1.5@hf_5c38ec7"),
        ("intfloat/e5-small-v2", "e5-small-v2@hf_dca8b1a"),
        ("BAAI/bge-small-en-v1.5@hf_5c38ec7", "bge-small-en-v1.5@hf_5c38ec7"),
        # The registry family sentence-transformers holds all-minilm-l6-v2: family/name wins, the curated default.
        ("sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2@hf_1110a24"),
        ("sentence-transformers/all-MiniLM-L6-v2@hf_8b3219a", "all-minilm-l6-v2@hf_8b3219a"),
    ],
)
def test_publisher_ids_resolve(pid: str, expected: str) -> None:
    assert zoo.info(pid).id == expected


def test_pull_by_publisher_id_is_pull_by_name() -> None:
    by_id = run_zoo("pull", "resnet50.a1_in1k", env={"ZOO_OFFLINE": "1"})
    by_name = run_zoo("pull", "resnet50@a1_in1k", env={"ZOO_OFFLINE": "1"})
    # Offline with an empty cache both stop at the same point (exit 5, naming the same version), not "unknown model".
    assert by_id.returncode == by_name.returncode == 5
    assert by_id.stderr == by_name.stderr and "resnet50@a1_in1k" in by_id.stderr


# ---- metrics ------------------------------------------------------------------------------------


@needs_manifests
def test_timm_metrics_equal_the_results_table() -> None:
    with open(MANIFESTS / "timm" / "results-imagenet.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["model"] == "resnet50.a1_in1k"]
    metrics = zoo.info("resnet50.a1_in1k").metrics
    for row in rows:
        top1 = next(m for m in metrics if m.name == "top1" and m.resolution == int(row["img_size"]))
        assert top1.value == float(row["top1"]) and top1.dataset == "imagenet-1k"
        assert top1.source.endswith("aa4b5850c1543fa488abf260f18390eda46cf85d/results/results-imagenet.csv")
    gmacs = next(m for m in metrics if m.name == "gmacs")
    assert gmacs.value == 4.11 and gmacs.resolution == 224
    speeds = {m.hardware.split(",")[0] for m in metrics if m.name == "samples_per_s"}
    assert speeds == {"NVIDIA RTX 4090", "Intel Core i7-12700H CPU"}


def test_torchvision_metrics_equal_its_meta() -> None:
    from torchvision.models import ResNet50_Weights

    meta = ResNet50_Weights.IMAGENET1K_V2.meta
    info = zoo.info("ResNet50_Weights.IMAGENET1K_V2")
    values = {m.name: m.value for m in info.metrics}
    assert values == {"top1": meta["_metrics"]["ImageNet-1K"]["acc@1"], "top5": meta["_metrics"]["ImageNet-1K"]["acc@5"], "gflops": meta["_ops"]}
    assert info.params == meta["num_params"] and info.input.crop_pct == 224 / 232
    det = zoo.info("FasterRCNN_ResNet50_FPN_Weights.COCO_V1")
    assert det.task == "object-detection" and {m.name: m.value for m in det.metrics}["box_map"] == 37.0


def test_onnx_zoo_entries_pin_sha256_and_the_hub_copy() -> None:
    info = zoo.info("mobilenetv2-7")
    (f,) = info.files
    assert f.sha256.startswith("c1c51358") and f.size > 0 and f.tier == "sha256"
    assert f.source.url == "https://huggingface.co/onnxmodelzoo/mobilenetv2-7/resolve/main/mobilenetv2-7.onnx"
    assert info.input.to_dict() == {"shape": [3, 224, 224]}  # the graph's input; the manifest gives no normalisation


# ---- diff ----------------------------------------------------------------------------------------


def test_diff_shouts_a_changed_hash(tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(GENERATED, old / "generated")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    assert run_zoo("registry", "diff", str(old), str(new)).returncode == 0
    path = new / "generated" / "onnx-zoo.yaml"
    text = path.read_text()
    path.write_text(text.replace('"sha256": "c1c51358', '"sha256": "d1c51358', 1).replace('"Emotion FERPlus', '"Emotion', 1))
    r = run_zoo("registry", "diff", str(old), str(new))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.splitlines()[0].startswith("CHANGED HASH mobilenetv2@opset7 mobilenetv2-7.onnx: sha256 c1c51358")
    data = json.loads(run_zoo("registry", "diff", str(old), str(new), "--json").stdout)
    assert data["pin_changes"] == 1 and data["added"] == data["removed"] == []


def test_diff_lists_added_and_removed_versions(tmp_path: Path) -> None:
    data = _data("gensim")
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    models = data["models"]
    old.write_text(dump({k: v for k, v in models.items() if k != "glove-twitter-25"}, ["old"]))
    new.write_text(dump({k: v for k, v in models.items() if k != "glove-twitter-50"}, ["new"]))
    r = run_zoo("registry", "diff", str(old), str(new))
    assert r.returncode == 0
    assert "+ glove-twitter-25@gensim" in r.stdout and "- glove-twitter-50@gensim" in r.stdout


# ---- MTEB ---------------------------------------------------------------------------------------


def _mteb_rows() -> dict[str, dict[str, str]]:
    with open(MANIFESTS / "mteb" / "mteb-eng-v2-by-model.csv", newline="", encoding="utf-8") as fh:
        return {r["model"]: r for r in csv.DictReader(fh)}


@needs_manifests
def test_mteb_means_equal_the_manifest_and_say_how_they_were_made() -> None:
    rows = _mteb_rows()
    checked = 0
    for model in _data("mteb")["models"].values():
        for v in model["versions"].values():
            row = rows.get(v["ids"][0])
            metrics = {m["name"]: m for m in v.get("metrics", ())}
            if row is None:
                assert not metrics
                continue
            # The generator computes the means itself; the manifest's own columns must agree to the cent.
            if row["mteb_eng_v2_mean"]:
                assert metrics["mteb"]["value"] == pytest.approx(float(row["mteb_eng_v2_mean"]), abs=0.006)
                assert metrics["mteb"]["tasks"] == 41
                assert metrics["mteb_by_type"]["value"] == pytest.approx(float(row["mteb_eng_v2_mean_by_type"]), abs=0.006)
                checked += 1
            else:
                assert "mteb" not in metrics
            for kind, name in (("Retrieval", "mteb_retrieval"), ("STS", "mteb_sts"), ("Classification", "mteb_classification")):
                if row[f"type_{kind}"]:
                    assert metrics[name]["value"] == pytest.approx(float(row[f"type_{kind}"]), abs=0.006)
                else:
                    assert name not in metrics
            for m in metrics.values():
                assert m["note"].startswith("computed by zoo's generator") and "f4cc6c8b3" in m["source"]
    assert checked >= 150


def test_mteb_entries_are_snapshots_at_the_pinned_commit() -> None:
    metas = {m["name"]: m for m in json.loads((MANIFESTS / "mteb" / "model_metas.json").read_text())["models"]} if MANIFESTS.is_dir() else {}
    info = zoo.info("bge-small-en-v1.5")
    assert info.snapshot is not None and info.snapshot.repo == "BAAI/bge-small-en-v1.5"
    assert info.snapshot.revision == "5c38ec7c405ec4b44b94cc5a9bb96e735b38267a"
    assert info.files == () and info.size_estimated and info.size == info.params * 4 == 133_600_000
    assert info.verification == "hub" and info.source == "mteb" and info.arch == "auto" and info.embed_dim == 384
    assert info.task == "sentence-embedding" and info.modality == "text" and info.input.max_length == 512
    if metas:
        assert metas["BAAI/bge-small-en-v1.5"]["revision"] == info.snapshot.revision
        assert metas["BAAI/bge-small-en-v1.5"]["n_parameters"] == info.params


def test_mteb_remote_code_models_are_marked_and_hidden_unless_asked() -> None:
    facts = json.loads((SHIPPED / "facts" / "mteb-remote-code.json").read_text())["remote_code"]
    assert "nomic-ai/nomic-embed-text-v1.5" in facts and "BAAI/bge-small-en-v1.5" not in facts
    info = zoo.info("nomic-ai/nomic-embed-text-v1.5")
    assert info.requires == ("remote-code",)
    shown = {m.name for m in zoo.list_models(modality="text", include_remote_code=True)}
    hidden = {m.name for m in zoo.list_models(modality="text")}
    assert info.name in shown and info.name not in hidden and "bge-small-en-v1.5" in hidden
    assert all(not m.requires for m in zoo.list_models(modality="text"))
    assert info.name in {m.name for m in zoo.search("nomic embed", include_remote_code=True)}
    assert info.name not in {m.name for m in zoo.search("nomic embed")}


def test_text_listing_counts_and_sorting_by_mteb() -> None:
    every = zoo.list_models(modality="text", include_remote_code=True)
    pinned = [m for m in every if m.source == "mteb"]
    assert len(pinned) >= 500 and sum(1 for m in every if m.metric("mteb") is not None) >= 150
    ranked = zoo.list_models(modality="text", sort="-mteb", max_params="150M")
    values = [m.metric("mteb") for m in ranked]
    scored = [v for v in values if v is not None]
    assert scored == sorted(scored, reverse=True) and len(scored) > 50
    assert values[: len(scored)] == scored  # unscored versions come last
    assert all(m.params is not None and m.params <= 150_000_000 for m in ranked)
    best = zoo.list_models(min_mteb=65)
    assert best and all(m.metric("mteb") >= 65 for m in best)
    # The estimate counts as a size: --max-size works for snapshot versions.
    small = zoo.list_models(modality="text", max_size="200MB", source="mteb")
    assert small and all(m.size_estimated and m.size <= 200_000_000 for m in small)


def test_cli_lists_mteb_and_marks_estimated_sizes() -> None:
    r = run_zoo("list", "--modality", "text", "--sort", "-mteb", "--max-params", "150M", "--limit", "5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "MTEB" in lines[0].split()
    assert any("≈" in line for line in lines[1:])
    r = run_zoo("info", "BAAI/bge-small-en-v1.5")
    assert r.returncode == 0, r.stderr
    assert "mteb = 64.3 on mteb-eng-v2, 41 tasks; computed by zoo's generator" in r.stdout
    assert "≈ 133.6 MB (estimated from the parameter count" in r.stdout
    assert "snapshot:     BAAI/bge-small-en-v1.5 at commit 5c38ec7c405ec4b44b94cc5a9bb96e735b38267a" in r.stdout
    r = run_zoo("list", "--include-remote-code", "--search-nothing")
    assert r.returncode == 2
