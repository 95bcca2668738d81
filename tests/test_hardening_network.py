"""Pulls that survive the network and the process table (issue 13, cases 1, 9 and 10).

Case 1: a real ``zoo pull`` killed with SIGKILL mid-file, then run again, resumes with ``Range`` from the bytes the
killed process left, and a kept partial whose tail is not the file's is started over instead of failing the pull.
Case 9: one pull meets a 500, a dropped body, a 429 with ``Retry-After`` and a stalled server on its first mirror,
and finishes from the second mirror. Case 10: eight real processes pull the same three models into one ``ZOO_HOME``
at once, and every file crosses the wire once. All against the real loopback servers of ``tests/servers.py``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import file_entry, model_entry, run_zoo, sha256, write_registry
from hardening import audit, wait_for

import zoo
from zoo import registry
from zoo.fetch import RetryPolicy

MIB = 1024 * 1024
FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=5.0, connect_timeout=5.0, read_timeout=5.0)


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic bytes that do not repeat within a MiB."""
    block = bytes((i * 131 + seed * 7 + (i >> 8) * 17) % 256 for i in range(65536))
    return (block * (n // len(block) + 1))[:n]




def leftovers(home: Path) -> list[str]:
    """Names in ``blobs/sha256`` that are not finished blobs (partials, temps)."""
    blobs = home / "blobs" / "sha256"
    return sorted(p.name for p in blobs.iterdir() if len(p.name) != 64) if blobs.is_dir() else []


def zoo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoo_cli", *args]


def lines_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


# ---- case 1: kill -9 mid-file, rerun ------------------------------------------------------------------------


@pytest.mark.hardening(case=1, name="SIGKILL mid-file; the rerun resumes with Range and verifies")
def test_kill_9_mid_file_then_rerun_resumes(tmp_path, https_server, zoo_env, request) -> None:  # noqa: ANN001
    """A ``zoo pull`` process killed with SIGKILL while the body is paused after 2 MiB + 777 bytes leaves
    ``<sha256>.partial`` holding a prefix of the file and nothing in ``blobs/`` or ``models/``; ``zoo pull`` again
    sends one ``GET`` with ``Range: bytes=<partial size>-``, moves no byte twice, and leaves the verified blob, the
    model folder, and no ``.partial`` or temp file behind."""
    data = payload(6 * MIB + 4321, seed=1)
    https_server.add("/files/weights.bin", data)
    # The transfer pauses mid-body long enough for the kill; stopping the server at teardown ends the pause.
    https_server.fault("/files/weights.bin", "stall", after=2 * MIB + 777, seconds=60)
    reg = write_registry(
        tmp_path / "reg" / "tiny.yaml",
        {"tiny": model_entry([file_entry("weights.bin", data, {"url": https_server.url("/files/weights.bin")})])},
    )
    registry.load_catalog([reg])  # the index, built here once rather than by both processes
    blobs = zoo_env / "blobs" / "sha256"
    partial = blobs / f"{sha256(data)}.partial"
    proc = subprocess.Popen(
        zoo_cmd("--registry", str(reg), "pull", "tiny", "--json"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size >= 2 * MIB, 30, "the partial to reach 2 MiB")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = partial.stat().st_size
    assert 2 * MIB <= kept <= 2 * MIB + 777
    assert partial.read_bytes() == data[:kept]
    assert not (blobs / sha256(data)).exists() and not (zoo_env / "models" / "tiny").exists()

    https_server.clear_requests()
    r = run_zoo("--registry", str(reg), "pull", "tiny", "--json")
    assert r.returncode == 0, r.stderr
    (get,) = https_server.requests_for("/files/weights.bin", "GET")
    assert get.headers["range"] == f"bytes={kept}-" and get.status == 206 and get.bytes_sent == len(data) - kept
    out = lines_of(r.stdout)
    (fetched,) = [e for e in out if e.get("event") == "fetched"]
    assert (fetched["resumed_from"], fetched["fetched"], fetched["attempts"]) == (kept, len(data) - kept, 1)
    assert Path(out[-1]["path"], "weights.bin").read_bytes() == data
    assert (blobs / sha256(data)).read_bytes() == data
    assert leftovers(zoo_env) == []
    assert audit(zoo_env, request=request) == []


@pytest.mark.hardening(case=1, name="a kept partial with a wrong tail is started over, not a failed pull")
def test_partial_with_a_wrong_tail_is_started_over(tmp_path, https_server, zoo_env, request) -> None:  # noqa: ANN001
    """A partial whose last 64 KiB are zeros (what a crash can leave: the size grew, the data never reached the
    disk) used to be resumed and then fail the pull with a sha256 mismatch, deleting it: the user had to run the
    pull a second time. Now the resumed download that does not verify is fetched once more from byte 0 within the
    same pull (the pull succeeds; a ``retry`` event says why)."""
    data = payload(3 * MIB + 55, seed=2)
    https_server.add("/files/weights.bin", data)
    reg = write_registry(
        tmp_path / "reg" / "tiny.yaml",
        {"tiny": model_entry([file_entry("weights.bin", data, {"url": https_server.url("/files/weights.bin")})])},
    )
    blobs = zoo_env / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    kept = 2 * MIB
    (blobs / f"{sha256(data)}.partial").write_bytes(data[: kept - 65536] + bytes(65536))
    events: list[dict] = []
    folder = zoo.pull("tiny", registries=[reg], policy=FAST, progress=events.append)
    assert (folder / "weights.bin").read_bytes() == data
    gets = https_server.requests_for("/files/weights.bin", "GET")
    assert [(g.headers.get("range"), g.status) for g in gets] == [(f"bytes={kept}-", 206), (None, 200)]
    (retry,) = [e for e in events if e["event"] == "retry"]
    assert "did not verify" in retry["error"] and retry["wait"] == 0
    (fetched,) = [e for e in events if e["event"] == "fetched"]
    assert (fetched["resumed_from"], fetched["attempts"], fetched["fetched"]) == (kept, 2, len(data) - kept + len(data))
    assert leftovers(zoo_env) == []
    assert audit(zoo_env, request=request) == []


# ---- case 9: server faults in sequence -------------------------------------------------------------------


@pytest.mark.hardening(case=9, name="500, drop, 429 + Retry-After, stall on mirror 1; mirror 2 finishes")
def test_faults_in_sequence_then_the_second_mirror(tmp_path, http_server, https_server, zoo_env, request) -> None:  # noqa: ANN001
    """Ordering semantic: sources are tried in order (mirrors as ``ZOO_MIRROR`` lists them, then the origin), and each
    source gets the whole retry budget (``RetryPolicy.attempts`` requests) before the next is tried; the ``.partial``
    is kept across sources (it is addressed by sha256 and verified at the end), so the next source resumes it.

    Mirror 1 answers: a 500 (retried after the backoff), a body dropped after 1 MiB + 5 bytes (retried with
    ``Range: bytes=1048581-``), a 429 with ``Retry-After: 1`` (the wait is that second), then headers and no body byte:
    abandoned after the 1 s read timeout, its 4th and last attempt. Mirror 2 gets one ``GET`` with the same ``Range``
    and finishes; the origin is never asked. The events say each of it: three ``retry``, one ``fallback``, one
    ``fetched`` from mirror 2 resumed at 1 MiB + 5 after 1 attempt."""
    data = payload(4 * MIB + 99, seed=9)
    key = f"/sha256/{sha256(data)}"
    https_server.add("/files/weights.bin", data)
    for prefix in ("/m1", "/m2"):
        http_server.add(prefix + key, data)
    cut = MIB + 5
    http_server.fault("/m1" + key, "status", code=500)
    http_server.fault("/m1" + key, "drop", after=cut)
    http_server.fault("/m1" + key, "status", code=429, retry_after=1)
    http_server.fault("/m1" + key, "stall", after=0, seconds=10, then_drop=True)
    reg = write_registry(
        tmp_path / "reg" / "tiny.yaml",
        {"tiny": model_entry([file_entry("weights.bin", data, {"url": https_server.url("/files/weights.bin")})])},
    )
    mirror1, mirror2 = http_server.url("/m1"), http_server.url("/m2")
    policy = RetryPolicy(attempts=4, backoff=0.05, max_wait=5.0, connect_timeout=5.0, read_timeout=1.0)
    events: list[dict] = []
    start = time.monotonic()
    folder = zoo.pull("tiny", registries=[reg], mirrors=[mirror1, mirror2], policy=policy, progress=events.append)
    elapsed = time.monotonic() - start
    assert (folder / "weights.bin").read_bytes() == data

    log = [(r.path.split("/")[1], r.headers.get("range"), r.status, r.fault) for r in http_server.requests]
    assert log == [
        ("m1", None, 500, "status"),
        ("m1", None, 200, "drop"),
        ("m1", f"bytes={cut}-", 429, "status"),
        ("m1", f"bytes={cut}-", 206, "stall"),
        ("m2", f"bytes={cut}-", 206, None),
    ]
    assert http_server.requests[1].bytes_sent == cut and http_server.requests[3].bytes_sent == 0
    assert https_server.requests == []  # the origin is never asked
    retries = [(e["attempt"], e["wait"]) for e in events if e["event"] == "retry"]
    assert retries == [(1, 0.05), (2, 0.1), (3, 1.0)]
    errors_seen = [e["error"] for e in events if e["event"] == "retry"]
    assert errors_seen == ["HTTP 500", f"connection ended after {cut} of {len(data)} bytes", "HTTP 429"]
    (fallback,) = [e for e in events if e["event"] == "fallback"]
    assert fallback["source"] == mirror1 and "after 4 attempts" in fallback["error"] and "timed out" in fallback["error"]
    (fetched,) = [e for e in events if e["event"] == "fetched"]
    assert (fetched["source"], fetched["where"]) == ("mirror", f"{mirror2}{key}")
    assert (fetched["resumed_from"], fetched["attempts"], fetched["fetched"]) == (cut, 1, len(data) - cut)
    # Waits: 0.05 + 0.1 backoff, the 1 s Retry-After, the 1 s read timeout; and not much more.
    assert 2.1 < elapsed < 10, elapsed
    assert leftovers(zoo_env) == []
    assert audit(zoo_env, request=request) == []


@pytest.mark.hardening(case=9, name="bytes of a bad mirror kept in the partial do not fail the good one")
def test_good_mirror_is_not_blamed_for_the_bad_mirrors_bytes(tmp_path, http_server, https_server, zoo_env, request) -> None:  # noqa: ANN001
    """Mirror 1 serves other bytes under the file's sha256 and drops the body after 1 MiB; mirror 2 resumes the
    partial. Before: mirror 2 was blamed (a ``fallback`` with a sha256 mismatch) and the origin downloaded the whole
    file again. Now mirror 2, seeing its resumed download fail to verify, fetches it once more from byte 0 and
    serves the pull; the origin is never asked."""
    data = payload(2 * MIB + 17, seed=5)
    key = f"/sha256/{sha256(data)}"
    https_server.add("/files/weights.bin", data)
    http_server.add("/m1" + key, payload(len(data), seed=6))  # a stale mirror: right name and size, other bytes
    http_server.fault("/m1" + key, "drop", after=MIB)
    http_server.add("/m2" + key, data)
    reg = write_registry(
        tmp_path / "reg" / "tiny.yaml",
        {"tiny": model_entry([file_entry("weights.bin", data, {"url": https_server.url("/files/weights.bin")})])},
    )
    mirror1, mirror2 = http_server.url("/m1"), http_server.url("/m2")
    events: list[dict] = []
    policy = RetryPolicy(attempts=1, backoff=0.05, max_wait=5.0, connect_timeout=5.0, read_timeout=5.0)
    folder = zoo.pull("tiny", registries=[reg], mirrors=[mirror1, mirror2], policy=policy, progress=events.append)
    assert (folder / "weights.bin").read_bytes() == data
    log = [(r.path.split("/")[1], r.headers.get("range"), r.status) for r in http_server.requests]
    assert log == [("m1", None, 200), ("m2", f"bytes={MIB}-", 206), ("m2", None, 200)]
    assert https_server.requests == []
    assert [e["source"] for e in events if e["event"] == "fallback"] == [mirror1]
    (retry,) = [e for e in events if e["event"] == "retry"]
    assert "did not verify" in retry["error"] and "sha256 mismatch" in retry["error"]
    (fetched,) = [e for e in events if e["event"] == "fetched"]
    assert (fetched["where"], fetched["resumed_from"], fetched["attempts"]) == (f"{mirror2}{key}", MIB, 2)
    assert leftovers(zoo_env) == []
    assert audit(zoo_env, request=request) == []


# ---- case 10: 8 processes, one ZOO_HOME ------------------------------------------------------------------


@pytest.mark.hardening(case=10, name="8 processes pull the same 3 models into one ZOO_HOME at once")
def test_eight_processes_pull_the_same_three_models(tmp_path, https_server, zoo_env, request) -> None:  # noqa: ANN001
    """Eight ``zoo pull`` processes, started together, each pull the models alpha, beta and gamma (in three rotated
    orders) into one ``ZOO_HOME``; beta and gamma share a file (same bytes, two URLs). The first transfer of each
    weights file pauses 1 s after 512 KiB, so the processes really meet on the same files. Every process exits 0
    without an error line; every distinct file is fetched by exactly one full ``GET`` (no ``Range``: nobody resumes
    a partial another process is still writing) across all its URLs; exactly one process reports each file as
    fetched (``url``), the others as ``cache``; at least one process waited for another's download (its ``file``
    event says ``fetching`` and its result says ``cache``); every folder holds the right bytes."""
    blobs_by_name = {
        "alpha/weights.bin": payload(3 * MIB + 1, seed=11),
        "alpha/config.json": b'{"hidden_size": 8}\n',
        "beta/weights.bin": payload(2 * MIB + 2, seed=12),
        "gamma/weights.bin": payload(2 * MIB + 3, seed=13),
        "shared.bin": payload(MIB + 4, seed=14),
    }
    urls: dict[str, list[str]] = {}  # sha256 -> URL paths serving it

    def entry(model: str, path: str, data: bytes, url_path: str) -> dict:
        https_server.add(url_path, data)
        urls.setdefault(sha256(data), []).append(url_path)
        return file_entry(path, data, {"url": https_server.url(url_path)})

    models = {
        "alpha": model_entry(
            [
                entry("alpha", "weights.bin", blobs_by_name["alpha/weights.bin"], "/alpha/weights.bin"),
                entry("alpha", "config.json", blobs_by_name["alpha/config.json"], "/alpha/config.json"),
            ]
        ),
        "beta": model_entry(
            [
                entry("beta", "weights.bin", blobs_by_name["beta/weights.bin"], "/beta/weights.bin"),
                entry("beta", "shared.bin", blobs_by_name["shared.bin"], "/beta/shared.bin"),
            ]
        ),
        "gamma": model_entry(
            [
                entry("gamma", "weights.bin", blobs_by_name["gamma/weights.bin"], "/gamma/weights.bin"),
                entry("gamma", "shared.bin", blobs_by_name["shared.bin"], "/gamma/shared.bin"),
            ]
        ),
    }
    for name in ("alpha", "beta", "gamma"):
        https_server.fault(f"/{name}/weights.bin", "stall", after=512 * 1024, seconds=1.0)
    reg = write_registry(tmp_path / "reg" / "three.yaml", models)
    registry.load_catalog([reg])  # the index, built once here rather than by eight processes at once
    orders = [["alpha", "beta", "gamma"], ["beta", "gamma", "alpha"], ["gamma", "alpha", "beta"]]
    procs = [
        subprocess.Popen(
            zoo_cmd("--registry", str(reg), "pull", *orders[i % 3], "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    try:
        outs = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
    assert [err for _, err in outs] == [""] * 8

    for sha, paths in urls.items():
        gets = [r for path in paths for r in https_server.requests_for(path, "GET")]
        assert len(gets) == 1, (paths, [(r.path, r.headers.get("range")) for r in gets])
        size = len(next(d for d in blobs_by_name.values() if sha256(d) == sha))
        assert (gets[0].headers.get("range"), gets[0].status, gets[0].bytes_sent) == (None, 200, size)

    fetched_by: dict[str, int] = {}
    waited = 0
    for stdout, _ in outs:
        out = lines_of(stdout)
        results = [line for line in out if "event" not in line]
        assert sorted(r["model"] for r in results) == ["alpha@v1", "beta@v1", "gamma@v1"]
        fetching = {(e["model"], e["path"]) for e in out if e.get("event") == "file" and e["status"] == "fetching"}
        for result in results:
            name = result["model"].split("@")[0]
            for f in result["files"]:
                data = blobs_by_name["shared.bin" if f["path"] == "shared.bin" else f"{name}/{f['path']}"]
                assert Path(result["path"], f["path"]).read_bytes() == data
                if f["source"] == "url":
                    fetched_by[f["sha256"]] = fetched_by.get(f["sha256"], 0) + 1
                elif (result["model"], f["path"]) in fetching:
                    waited += 1
    assert fetched_by == dict.fromkeys(urls, 1)
    assert waited >= 1
    assert leftovers(zoo_env) == []
    assert audit(zoo_env, request=request) == []
