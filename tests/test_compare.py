"""zoo compare / zoo.compare: versions side by side, figures from the registry (zoo/registry/_compare.py; issue 14)."""

from __future__ import annotations

import json

import pytest
from conftest import run_zoo

import zoo
from zoo.errors import InvalidOptionError, ModelNotFoundError


def test_compare_puts_the_registry_figures_side_by_side() -> None:
    result = zoo.compare(["resnet50", "convnext_tiny", "efficientnet_b0"])
    infos = [zoo.info(m) for m in ("resnet50", "convnext_tiny", "efficientnet_b0")]
    assert result.ids == tuple(i.id for i in infos)
    rows = {key: values for key, _, values in result.rows}
    for info, top1, params, size, license_, tier in zip(infos, rows["top1"], rows["params"], rows["size"], rows["license"], rows["verification"]):
        resolution = info.input.shape[-1]
        assert top1 == next(m.value for m in info.metrics if m.name == "top1" and m.resolution == resolution)
        assert (params, size, license_, tier) == (info.params, info.size, info.license, info.verification)
    assert rows["stages"][0] == [(s.name, s.channels, s.stride) for s in infos[0].stages]
    # The marks: the most accurate and the cheapest.
    best_top1 = max(range(3), key=lambda i: rows["top1"][i])
    assert result.best["top1"] == (best_top1,) and result.best["gmacs"] == (min(range(3), key=lambda i: rows["gmacs"][i]),)
    # Two versions of one model compare too.
    pair = zoo.compare(["resnet50@tv_imagenet1k_v1", "resnet50@a1_in1k"])
    assert pair.ids == ("resnet50@tv_imagenet1k_v1", "resnet50@a1_in1k")
    assert dict((k, v) for k, _, v in pair.rows)["adapter"] == (zoo.info("resnet50@tv_imagenet1k_v1").adapter, "timm")


def test_compare_refuses_one_model_and_unknown_ones() -> None:
    with pytest.raises(InvalidOptionError, match="two or more"):
        zoo.compare(["resnet50"])
    with pytest.raises(ModelNotFoundError):
        zoo.compare(["resnet50", "no-such-model"])


def test_cli_compare_table_json_and_exit_codes() -> None:
    r = run_zoo("compare", "resnet50", "efficientnet_b0")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = lines[0].split()
    assert header == [zoo.info("resnet50").id, zoo.info("efficientnet_b0").id]  # ids as they are, not upper-cased
    by_label = {line.split("  ")[0]: line for line in lines[1:]}
    assert "*" in by_label["params"] and "layer3 (1024/16)" in by_label["stages"] and "sha256" in by_label["verification"]
    data = json.loads(run_zoo("compare", "resnet50", "efficientnet_b0", "--json").stdout)
    assert data["ids"] == header and data["rows"]["params"] == [zoo.info("resnet50").params, zoo.info("efficientnet_b0").params]
    assert data["best"]["params"] == [1]
    r = run_zoo("compare", "resnet50")
    assert r.returncode == 2 and "two or more" in r.stderr
    r = run_zoo("compare", "resnet50", "nope-model")
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1


def test_text_models_compare_by_mteb_task_type() -> None:
    result = zoo.compare(["bge-small-en-v1.5", "all-minilm-l6-v2@hf_8b3219a", "e5-small-v2"])
    rows = {key: values for key, _, values in result.rows}
    assert "top1" not in rows and "gmacs" not in rows  # no text model has them: no empty rows
    assert rows["mteb"] == (64.3, 59.03, 61.32)  # mteb-eng-v2-by-model.csv, mteb_eng_v2_mean
    assert rows["mteb_retrieval"] == (53.86, 42.92, 48.46)
    assert result.best["mteb"] == (0,) and result.best["mteb_summarization"] == (2,)
    assert rows["embed_dim"] == (384, 384, 384) and result.estimated == (True, True, True)
    r = run_zoo("compare", "bge-small-en-v1.5", "e5-small-v2", "all-minilm-l6-v2")
    assert r.returncode == 0, r.stderr
    lines = {line.split("  ")[0].strip(): line for line in r.stdout.splitlines()}
    assert "64.30 *" in lines["MTEB(eng, v2)"] and "≈ 133.6 MB" in lines["size"]
    assert "embeddings + 6 x encoder.layer.N (384/1)" in lines["stages"]
