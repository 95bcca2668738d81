"""Word vectors end to end: a weakly pinned (md5) gzipped word2vec file served over https,
pulled, converted once to the safe cached form, loaded as KeyedVectors and as a torch
module, trimmed, and exported to ONNX (a Gather) with parity."""

from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np
import pytest
import torch

import zoo
from conftest import run_zoo, write_registry
from zoo.exporter import read_metadata

DIM = 16
WORDS = 3000


def _vectors() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(42)
    words = ["the", "king", "queen", "man", "woman"] + [f"w{i}" for i in range(WORDS - 5)]
    vecs = rng.standard_normal((WORDS, DIM)).astype(np.float32)
    # Planted structure: queen = king - man + woman (plus a little noise).
    vecs[2] = vecs[1] - vecs[3] + vecs[4] + 0.01 * rng.standard_normal(DIM).astype(np.float32)
    return words, vecs


def _word2vec_text_gz(words: list[str], vecs: np.ndarray) -> bytes:
    lines = [f"{len(words)} {vecs.shape[1]}"] + [w + " " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(words, vecs)]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


@pytest.fixture
def glove_reg(https_server, tmp_path):  # noqa: ANN001, ANN201
    words, vecs = _vectors()
    data = _word2vec_text_gz(words, vecs)
    https_server.add("/gensim/tiny-glove.gz", data)
    entry = {
        "task": "word-embedding",
        "modality": "text",
        "architecture": "GloVe",
        "paper": {"title": "Test vectors", "url": "https://example.org/paper"},
        "default": "gensim",
        "versions": {
            "gensim": {
                "adapter": "word-vectors",
                "arch": "word2vec",
                "license": "pddl",
                "params": WORDS * DIM,
                "stages": [{"name": "embeddings", "channels": DIM, "stride": 1}],
                "files": [
                    {
                        "path": "tiny-glove.gz",
                        "size": len(data),
                        "hash": {"md5": hashlib.md5(data).hexdigest()},
                        "source": {"url": https_server.url("/gensim/tiny-glove.gz")},
                    }
                ],
            }
        },
    }
    return write_registry(tmp_path / "wv.yaml", {"tiny-glove": entry}), words, vecs


def test_pull_converts_once(glove_reg, zoo_env) -> None:  # noqa: ANN001
    reg, words, vecs = glove_reg
    r = run_zoo("--registry", str(reg), "pull", "tiny-glove")
    assert r.returncode == 0, r.stderr
    (converted,) = (zoo_env / "vectors").iterdir()
    assert sorted(p.name for p in converted.iterdir()) == ["report.json", "vectors.safetensors", "vocab.txt"]
    assert (converted / "vocab.txt").read_text().split("\n")[:3] == ["the", "king", "queen"]
    # The converted form is keyed by the source file's sha256 (recorded on first pull).
    sha = next((zoo_env / "tofu" / "md5").iterdir()).read_text().strip()
    assert converted.name == sha
    # Reloading maps the converted form; the text is not parsed again.
    stamp = (converted / "vectors.safetensors").stat().st_mtime_ns
    kv = zoo.load_vectors("tiny-glove", registries=[reg], offline=True)
    assert (converted / "vectors.safetensors").stat().st_mtime_ns == stamp
    assert isinstance(kv.vectors, np.memmap)
    np.testing.assert_allclose(kv["king"], vecs[1], atol=1e-6)
    assert kv.most_similar(kv["king"] - kv["man"] + kv["woman"], topn=1, exclude=["king", "man", "woman"])[0][0] == "queen"
    assert abs(kv.similarity("king", "king") - 1.0) < 1e-6


def test_load_as_module_with_vocab(glove_reg) -> None:  # noqa: ANN001
    reg, words, vecs = glove_reg
    emb = zoo.load("tiny-glove", vocab=100, registries=[reg])
    ids = emb.encode(["king", "queen", "w90"])
    assert ids.tolist() == [1, 2, 95]
    out = emb(ids.unsqueeze(0))
    assert out.shape == (1, 3, DIM)
    torch.testing.assert_close(out[0], torch.from_numpy(vecs[[1, 2, 95]]), atol=1e-6, rtol=0)
    assert emb.embedding.num_embeddings == 100
    with pytest.raises(KeyError, match="w500"):
        emb.encode(["w500"])  # trimmed away
    with pytest.raises(ValueError, match="vocab= does not apply to resnet50@a1_in1k"):
        zoo.load("resnet50", vocab=10, pretrained=False)


def test_export_trimmed_embeddings(glove_reg, tmp_path) -> None:  # noqa: ANN001
    import onnxruntime as ort

    reg, words, vecs = glove_reg
    out = tmp_path / "glove-500.onnx"
    r = run_zoo("--registry", str(reg), "export", "tiny-glove", "--vocab", "500", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["parity"]["ok"] and result["inputs"] == {"input_ids": ["batch", "sequence"]}
    meta = read_metadata(out)
    assert meta["vocab_size"] == "500" and meta["vocab"].split("\n")[:2] == ["the", "king"]
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ids = np.array([[1, 2, 499], [0, 3, 4]], dtype=np.int64)
    (got,) = sess.run(None, {"input_ids": ids})
    np.testing.assert_allclose(got, vecs[ids], atol=1e-6)
    import onnx

    assert "Gather" in {n.op_type for n in onnx.load(str(out)).graph.node}


def test_tampered_source_fails_after_lock(glove_reg, https_server, tmp_path) -> None:  # noqa: ANN001
    reg, words, vecs = glove_reg
    assert run_zoo("--registry", str(reg), "pull", "tiny-glove").returncode == 0
    lock = tmp_path / "zoo.lock"
    assert run_zoo("--registry", str(reg), "registry", "lock", "tiny-glove", "-o", str(lock)).returncode == 0
    tampered = bytearray(_word2vec_text_gz(words, vecs))
    tampered[len(tampered) // 2] ^= 0x40  # same size, other bytes
    https_server.add("/gensim/tiny-glove.gz", bytes(tampered))
    r = run_zoo("pull", "--lock", str(lock), env={"ZOO_HOME": str(tmp_path / "other")})
    assert r.returncode == 4 and "sha256 mismatch" in r.stderr
