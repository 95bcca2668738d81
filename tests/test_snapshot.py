"""Hub snapshots (MTEB's pins): a version named by repo + commit, listed on first pull through the Hub's tree API,
each file checked against the sha256 or git blob id the listing states, pickles and code never fetched, recorded
for offline use and locked to sha256 pins; against the fake Hub of tests/servers.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_zoo, sha256, write_registry

import zoo
from zoo.errors import ChecksumMismatchError, DownloadError, OfflineError, UnpinnedFileError, UnsupportedModelError
from zoo.fetch import RetryPolicy

FAST = RetryPolicy(attempts=3, backoff=0.05, max_wait=2.0, connect_timeout=5.0, read_timeout=5.0)
REPO = "test-org/tiny-embedder"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHTS = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4: an LFS file

FILES = {
    "config.json": b'{"model_type": "bert", "hidden_size": 32}\n',
    "tokenizer.json": b'{"version": "1.0", "model": {"type": "WordPiece"}}\n',
    "tokenizer_config.json": b'{"do_lower_case": true}\n',
    "modules.json": b'[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]\n',
    "1_Pooling/config.json": b'{"word_embedding_dimension": 32, "pooling_mode_cls_token": true}\n',
    "sentence_bert_config.json": b'{"max_seq_length": 128, "do_lower_case": false}\n',
    "model.safetensors": WEIGHTS,
}
# What a real repo holds besides: pickled weights, publisher code, other exports, docs. Never fetched.
EXTRA = {
    "pytorch_model.bin": b"\x80\x04pickled weights",
    "modeling_custom.py": b"import os\nos.system('echo pwned')\n",
    "onnx/model.onnx": b"onnx bytes",
    "README.md": b"# tiny\n",
    ".gitattributes": b"*.bin filter=lfs\n",
}
SMALL = [p for p in {**FILES, **EXTRA} if not p.endswith((".safetensors", ".bin", ".onnx"))]


def _entry(repo: str = REPO, commit: str = COMMIT, **version: object) -> dict:
    return {
        "task": "sentence-embedding",
        "modality": "text",
        "architecture": "tiny",
        "default": "hf_0123456",
        "versions": {
            "hf_0123456": {
                "adapter": "transformers",
                "arch": "auto",
                "license": "mit",
                "params": 1000,
                "snapshot": {"hf": repo, "revision": commit, "size_estimate": 4000},
                "ids": [repo],
                **version,
            }
        },
    }


@pytest.fixture
def snapshot(hf_server, tmp_path):  # noqa: ANN001, ANN201
    hf_server.add_repo(REPO, COMMIT, {**FILES, **EXTRA}, non_lfs=SMALL)
    return write_registry(tmp_path / "snap.yaml", {"tiny-embedder": _entry()})


def _gets(hf_server) -> list[str]:  # noqa: ANN001
    return [r.path for r in hf_server.requests if r.method == "GET"]


def test_first_pull_lists_the_commit_and_fetches_only_what_a_model_needs(snapshot, hf_server, zoo_env) -> None:  # noqa: ANN001
    info = zoo.info("tiny-embedder", registries=[snapshot])
    assert info.files == () and info.size_estimated and info.size == 4000 and info.verification == "hub"
    folder = zoo.pull("tiny-embedder", registries=[snapshot], policy=FAST)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".zoo")) == sorted(FILES)
    for path, data in FILES.items():
        assert (folder / path).read_bytes() == data
    gets = _gets(hf_server)
    assert gets.count(f"/api/models/{REPO}/tree/{COMMIT}") == 1  # the listing, at the pinned commit
    fetched = {g.split(f"/resolve/{COMMIT}/", 1)[1] for g in gets if "/resolve/" in g}
    assert fetched == set(FILES)  # never a pickle, the publisher's code, other exports or docs
    assert not any("/resolve/main/" in g for g in gets)
    # The listing is recorded with every file's sha256 (git files' found on the way), and what was left out.
    record = json.loads((zoo_env / "tofu" / "hf-snapshot" / REPO / f"{COMMIT}.json").read_text())
    assert {f["path"]: f["sha256"] for f in record["files"]} == {p: sha256(d) for p, d in FILES.items()}
    assert sorted(record["left_out"]) == sorted(EXTRA)


def test_later_pulls_use_the_record_offline_and_lock_to_sha256(snapshot, hf_server, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    zoo.pull("tiny-embedder", registries=[snapshot], policy=FAST)
    hf_server.clear_requests()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    folder = zoo.pull("tiny-embedder", registries=[snapshot])
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS and hf_server.requests == []
    lock = tmp_path / "zoo.lock"
    r = run_zoo("--registry", str(snapshot), "registry", "lock", "tiny-embedder", "-o", str(lock))
    assert r.returncode == 0, r.stderr
    locked = json.loads(lock.read_text())["models"]["tiny-embedder@hf_0123456"]["files"]
    assert {f["path"]: (f["size"], f["sha256"]) for f in locked} == {p: (len(d), sha256(d)) for p, d in FILES.items()}
    assert all(f["source"] == {"hf": REPO, "revision": COMMIT, "file": f["path"]} and "hash" not in f for f in locked)
    assert hf_server.requests == []


def test_require_pinned_refuses_a_snapshot_until_it_is_locked(snapshot, hf_server, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(UnpinnedFileError) as info:
        zoo.pull("tiny-embedder", registries=[snapshot], require_pinned=True)
    assert info.value.tier == "hub" and "zoo registry lock tiny-embedder" in str(info.value)
    assert hf_server.requests == []  # refused before the listing
    r = run_zoo("--registry", str(snapshot), "pull", "tiny-embedder", "--require-pinned")
    assert r.returncode != 0 and "not pinned" in r.stderr and "Traceback" not in r.stderr
    lock = tmp_path / "zoo.lock"
    assert run_zoo("--registry", str(snapshot), "registry", "lock", "tiny-embedder", "-o", str(lock)).returncode == 0
    # Once locked, a pinned-only pull takes the lock's sha256 pins (even after the first pull's record is gone).
    r = run_zoo("pull", "--lock", str(lock), "--require-pinned", env={"ZOO_HOME": str(tmp_path / "fresh")})
    assert r.returncode == 0, r.stderr


def test_offline_before_any_listing_says_what_to_do(snapshot, hf_server, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="never listed in this cache.*zoo pull tiny-embedder"):
        zoo.pull("tiny-embedder", registries=[snapshot])
    assert hf_server.requests == []


def test_wrong_lfs_bytes_are_refused_and_nothing_is_cached(hf_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    # The listing claims another sha256 for the weights than the bytes served have: the pull refuses them.
    hf_server.add_repo(REPO, COMMIT, FILES, non_lfs=SMALL, advertise={"model.safetensors": "ab" * 32})
    reg = write_registry(tmp_path / "snap.yaml", {"tiny-embedder": _entry()})
    with pytest.raises(ChecksumMismatchError, match="sha256 mismatch"):
        zoo.pull("tiny-embedder", registries=[reg], policy=FAST)
    assert not (zoo_env / "blobs" / "sha256" / sha256(WEIGHTS)).exists()
    assert not (zoo_env / "models" / "tiny-embedder").exists()


def test_a_small_file_that_is_not_its_git_blob_is_refused(hf_server, tmp_path) -> None:  # noqa: ANN001
    hf_server.add_repo(REPO, COMMIT, FILES, non_lfs=SMALL, advertise={"config.json": "cd" * 20})
    reg = write_registry(tmp_path / "snap.yaml", {"tiny-embedder": _entry()})
    with pytest.raises(ChecksumMismatchError, match="git blob id mismatch"):
        zoo.pull("tiny-embedder", registries=[reg], policy=FAST)


def test_a_commit_without_safetensors_is_refused_naming_the_pickle(hf_server, tmp_path) -> None:  # noqa: ANN001
    files = {k: v for k, v in FILES.items() if k != "model.safetensors"} | {"pytorch_model.bin": b"\x80\x04"}
    hf_server.add_repo(REPO, COMMIT, files, non_lfs=SMALL)
    reg = write_registry(tmp_path / "snap.yaml", {"tiny-embedder": _entry()})
    with pytest.raises(UnsupportedModelError) as info:
        zoo.pull("tiny-embedder", registries=[reg], policy=FAST)
    assert info.value.reason == "no-safetensors" and info.value.file == "pytorch_model.bin"
    assert "no safetensors weights (only pytorch_model.bin: pickled files, which zoo never loads)" in str(info.value)
    assert not [g for g in _gets(hf_server) if "/resolve/" in g]  # refused from the listing: nothing downloaded
    r = run_zoo("--registry", str(reg), "pull", "tiny-embedder")
    assert r.returncode == 2 and "no safetensors weights" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_an_unknown_commit_is_a_clear_download_error(hf_server, tmp_path) -> None:  # noqa: ANN001
    hf_server.add_repo(REPO, COMMIT, FILES, non_lfs=SMALL)
    reg = write_registry(tmp_path / "snap.yaml", {"tiny-embedder": _entry(commit="f" * 40)})
    with pytest.raises(DownloadError) as info:
        zoo.pull("tiny-embedder", registries=[reg], policy=FAST)
    assert info.value.status == 404 and f"no {REPO} at commit {'f' * 40}" in str(info.value)


def test_remote_code_versions_are_refused_before_any_request(hf_server, tmp_path) -> None:  # noqa: ANN001
    hf_server.add_repo(REPO, COMMIT, FILES, non_lfs=SMALL)
    reg = write_registry(tmp_path / "snap.yaml", {"tiny-embedder": _entry(requires=["remote-code"])})
    r = run_zoo("--registry", str(reg), "pull", REPO)
    assert r.returncode == 2, r.stderr
    assert "tiny-embedder@hf_0123456: needs its publisher's Python code" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert hf_server.requests == []
    # Listed only on request.
    assert "tiny-embedder" not in {m.name for m in zoo.list_models(registries=[reg])}
    assert "tiny-embedder" in {m.name for m in zoo.list_models(registries=[reg], include_remote_code=True)}


def test_the_publisher_id_pulls_the_snapshot(snapshot, hf_server) -> None:  # noqa: ANN001
    assert zoo.info(REPO, registries=[snapshot]).id == "tiny-embedder@hf_0123456"
    r = run_zoo("--registry", str(snapshot), "pull", REPO, "--json")
    assert r.returncode == 0, r.stderr
    result = [json.loads(line) for line in r.stdout.splitlines() if '"model"' in line and '"files"' in line][-1]
    assert Path(result["path"], "model.safetensors").read_bytes() == WEIGHTS
    assert {f["path"] for f in result["files"]} == set(FILES)


# ---- an MTEB-style entry end to end: listed, pulled, embedded as its publisher's files say -------------------


@pytest.mark.slow
def test_a_snapshot_embeds_as_sentence_transformers_does(hf_server, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import numpy as np
    from sentence_models import ARCHS, build_folder, folder_files
    from sentence_transformers import SentenceTransformer

    arch = ARCHS["bert"]
    folder = build_folder(arch, tmp_path / "st", pooling="cls", normalize=True, prompts={"query": "query: "})
    files = dict(folder_files(folder))
    hf_server.add_repo("test-org/tiny-bge", COMMIT, {**files, "pytorch_model.bin": b"\x80\x04"},
                       non_lfs=[p for p in files if not p.endswith(".safetensors")])
    # As the MTEB generator writes it: repo + commit, arch from config.json, no files, no stages.
    reg = write_registry(tmp_path / "snap.yaml", {"tiny-bge": _entry("test-org/tiny-bge", input={"max_length": 128})})
    # Before the pull the architecture is not known: the stage count comes with config.json.
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    r = run_zoo("--registry", str(reg), "stages", "tiny-bge")
    assert r.returncode != 0 and "config.json" in r.stderr and "zoo pull" in r.stderr and "Traceback" not in r.stderr
    monkeypatch.delenv("ZOO_OFFLINE")
    texts = ["A man is playing a guitar.", "Bonds rallied after the central bank spoke.", "Short text."]
    ours = zoo.encode("test-org/tiny-bge", texts, registries=[reg])
    theirs = SentenceTransformer(str(folder), device="cpu").encode(texts)
    assert ours.shape == theirs.shape == (3, 32)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.9999
    query = zoo.encode("tiny-bge", texts, prompt="query", registries=[reg], runtime="torch")
    np.testing.assert_allclose(query, SentenceTransformer(str(folder), device="cpu").encode(texts, prompt_name="query"), atol=1e-4)
    # Stages come from the pulled config.json: embeddings + each layer.
    stages = [s.name for s in zoo.stages("tiny-bge", registries=[reg])]
    assert stages == ["embeddings", "encoder.layer.0", "encoder.layer.1"]
    assert not [r for r in hf_server.requests if r.path.endswith("pytorch_model.bin")]
    # Offline from now on, through the CLI.
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "emb.npy"
    r = run_zoo("--registry", str(reg), "embed", "tiny-bge", str(data), "-o", str(out), env={"ZOO_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(out), theirs, atol=1e-4)


def test_info_shows_the_listed_files_and_real_size_once_pulled(snapshot, hf_server) -> None:  # noqa: ANN001
    before = run_zoo("--registry", str(snapshot), "info", "tiny-embedder")
    assert "≈ 4.0 kB (estimated from the parameter count" in before.stdout and "files: listed on first pull" in before.stdout
    zoo.pull("tiny-embedder", registries=[snapshot], policy=FAST)
    after = run_zoo("--registry", str(snapshot), "info", "tiny-embedder")
    assert after.returncode == 0, after.stderr
    total = sum(len(d) for d in FILES.values())
    assert f"({total:,} bytes in {len(FILES)} files)" in after.stdout and "as the first pull listed them" in after.stdout
    doc = json.loads(run_zoo("--registry", str(snapshot), "info", "tiny-embedder", "--json").stdout)
    assert doc["size"] == total and {f["path"] for f in doc["files"]} == set(FILES)
