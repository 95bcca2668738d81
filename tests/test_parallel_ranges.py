"""Parallel Range downloads (``zoo pull --connections N``) against real loopback servers (Python with faults, nginx)."""

from __future__ import annotations

import json
import os
import threading

import pytest
from conftest import file_entry, model_entry, run_zoo, sha256, write_registry

import zoo
from zoo.errors import ChecksumMismatchError, DownloadError
from zoo.fetch import RetryPolicy
from zoo.fetch._ranges import RANGE_MIN, SEGMENT

FAST = RetryPolicy(attempts=3, backoff=0.02, max_wait=2.0, connect_timeout=5.0, read_timeout=10.0)
SIZE = RANGE_MIN + 3 * 1024 * 1024 + 17  # 5 segments, the last a short one
BIG = os.urandom(SIZE)
SHA = sha256(BIG)


def _registry(tmp_path, url):  # noqa: ANN001, ANN202
    return write_registry(tmp_path / "reg" / "big.yaml", {"big": model_entry([file_entry("big.bin", BIG, {"url": url})])})


def _pull(reg, **kwargs):  # noqa: ANN001, ANN003, ANN202
    kwargs.setdefault("policy", FAST)
    return zoo.pull("big", registries=[reg], **kwargs)


def _ranges(server, path):  # noqa: ANN001, ANN202
    return [r for r in server.requests_for(path, "GET")]


def test_parallel_ranges_fetch_every_segment_once_and_verify(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    events: list[dict] = []
    folder = _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=4, progress=events.append)
    assert sha256((folder / "big.bin").read_bytes()) == SHA
    assert (zoo_env / "blobs" / "sha256" / SHA).stat().st_size == SIZE
    requests = _ranges(https_server, "/big.bin")
    starts = sorted(r.range_start for r in requests)
    assert starts == list(range(0, SIZE, SEGMENT))  # one request per segment, none twice
    assert all(r.status == 206 for r in requests)
    assert sum(r.bytes_sent for r in requests) == SIZE
    assert len({r.client_port for r in requests}) == len(requests)  # each its own connection
    fetched = next(e for e in events if e["event"] == "fetched")
    assert (fetched["connections"], fetched["fetched"], fetched["attempts"]) == (4, SIZE, len(requests))
    assert sum(e["n"] for e in events if e["event"] == "bytes") == SIZE
    assert not list((zoo_env / "blobs" / "sha256").glob("*partial"))


def test_small_files_and_one_connection_use_one_stream(tmp_path, https_server) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=1)
    (request,) = _ranges(https_server, "/big.bin")
    assert (request.status, request.range_start, request.bytes_sent) == (200, None, SIZE)


def test_server_ignoring_range_falls_back_to_one_stream(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG, ranges=False)
    folder = _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=4)
    assert sha256((folder / "big.bin").read_bytes()) == SHA
    requests = _ranges(https_server, "/big.bin")
    assert all(r.status == 200 for r in requests)
    # The ranged requests were answered with the whole file and closed at once; one stream then fetched it.
    assert sum(r.bytes_sent for r in requests) < 2 * SIZE
    assert requests[-1].range_start is None and requests[-1].bytes_sent == SIZE


def test_a_dropped_segment_resumes_where_it_stopped(tmp_path, https_server) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    https_server.fault("/big.bin", "drop", after=5 * 1024 * 1024, range_from=2 * SEGMENT)
    folder = _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=3)
    assert sha256((folder / "big.bin").read_bytes()) == SHA
    starts = sorted(r.range_start for r in _ranges(https_server, "/big.bin"))
    # The dropped segment was asked for again from its first missing byte, not from its start.
    again = [s for s in starts if s not in range(0, SIZE, SEGMENT)]
    assert len(again) == 1 and 2 * SEGMENT < again[0] <= 2 * SEGMENT + 5 * 1024 * 1024


def test_a_corrupt_segment_fails_and_nothing_is_cached(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    https_server.fault("/big.bin", "corrupt", offset=3 * SEGMENT + 99, range_from=3 * SEGMENT)
    with pytest.raises(ChecksumMismatchError) as info:
        _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=4)
    assert (info.value.algorithm, info.value.expected) == ("sha256", SHA)
    assert not (zoo_env / "blobs" / "sha256" / SHA).exists()
    assert not list((zoo_env / "blobs" / "sha256").glob("*partial"))


def test_a_server_file_of_another_size_is_refused(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG + b"x")
    entry = file_entry("big.bin", BIG, {"url": https_server.url("/big.bin")})
    reg = write_registry(tmp_path / "reg" / "big.yaml", {"big": model_entry([entry])})
    with pytest.raises(ChecksumMismatchError) as info:
        _pull(reg, connections=4)
    assert (info.value.algorithm, info.value.expected, info.value.actual) == ("size", SIZE, SIZE + 1)
    assert not list((zoo_env / "blobs" / "sha256").glob("*partial"))


def test_giving_up_keeps_the_prefix_for_a_single_stream_resume(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    # Segment 2 answers 503 twice, asking for a second's wait in between: segments 0 and 1 are long done by then.
    https_server.fault("/big.bin", "status", times=10, code=503, retry_after=1, range_from=2 * SEGMENT)
    reg = _registry(tmp_path, https_server.url("/big.bin"))
    with pytest.raises(DownloadError) as info:
        _pull(reg, connections=2, policy=RetryPolicy(attempts=2, backoff=0.01, max_wait=5.0))
    assert info.value.status == 503
    partial = zoo_env / "blobs" / "sha256" / f"{SHA}.partial"
    # Segments 0 and 1 arrived in order: they are the partial, a prefix of the file; what came after the gap was dropped.
    kept = partial.read_bytes()
    assert (len(kept), sha256(kept)) == (2 * SEGMENT, sha256(BIG[: 2 * SEGMENT]))
    assert not list((zoo_env / "blobs" / "sha256").glob("*.ranges.partial"))
    https_server.clear_faults()
    https_server.clear_requests()
    folder = _pull(reg, connections=1)
    assert sha256((folder / "big.bin").read_bytes()) == SHA
    (request,) = _ranges(https_server, "/big.bin")
    assert (request.range_start, request.bytes_sent) == (2 * SEGMENT, SIZE - 2 * SEGMENT)


def test_parallel_resume_after_a_partial_hashes_the_kept_prefix(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    blobs = zoo_env / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (blobs / f"{SHA}.partial").write_bytes(BIG[: 2 * 1024 * 1024])
    # A killed parallel pull's work file has holes: it is never resumed, only removed.
    (blobs / f"{SHA}.ranges.partial").write_bytes(b"\0" * 1024)
    folder = _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=4)
    assert sha256((folder / "big.bin").read_bytes()) == SHA
    requests = _ranges(https_server, "/big.bin")
    assert sorted(r.range_start for r in requests) == list(range(2 * 1024 * 1024, SIZE, SEGMENT))
    assert not list(blobs.glob("*partial"))


def test_a_wrong_kept_prefix_is_fetched_again_from_byte_0(tmp_path, https_server, zoo_env) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    blobs = zoo_env / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (blobs / f"{SHA}.partial").write_bytes(b"\xff" * (1024 * 1024))
    folder = _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=4)
    assert sha256((folder / "big.bin").read_bytes()) == SHA
    assert 0 in {r.range_start for r in _ranges(https_server, "/big.bin")}


def test_cli_connections_and_its_setting(tmp_path, https_server) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    reg = _registry(tmp_path, https_server.url("/big.bin"))
    out = run_zoo("--registry", str(reg), "pull", "big", "--connections", "3", "--json", env={"SSL_CERT_FILE": os.environ["SSL_CERT_FILE"]})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["files"][0]["sha256"] == SHA
    assert len(_ranges(https_server, "/big.bin")) == len(range(0, SIZE, SEGMENT))
    bad = run_zoo("--registry", str(reg), "pull", "big", env={"ZOO_CONNECTIONS": "many"})
    assert bad.returncode == 2 and "ZOO_CONNECTIONS must be a whole number from 1 to 64" in bad.stderr
    bad = run_zoo("--registry", str(reg), "pull", "big", "--connections", "0")
    assert bad.returncode == 2 and "--connections" in bad.stderr


@pytest.mark.skipif(not __import__("nginx").available(), reason="nginx is not installed (make system)")
def test_parallel_ranges_from_nginx_mirror(tmp_path, zoo_env, monkeypatch) -> None:  # noqa: ANN001
    from nginx import Nginx

    root = tmp_path / "mirror"
    (root / "sha256").mkdir(parents=True)
    (root / "sha256" / SHA).write_bytes(BIG)
    server = Nginx(root, tmp_path / "nginx").start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca))
        reg = _registry(tmp_path, "https://origin.invalid/big.bin")  # never asked: the mirror has it
        folder = _pull(reg, connections=4, mirrors=[server.url])
        assert sha256((folder / "big.bin").read_bytes()) == SHA
        requests = server.requests()
        assert sorted(int(r.range.split("=")[1].split("-")[0]) for r in requests) == list(range(0, SIZE, SEGMENT))
        assert {r.status for r in requests} == {206} and sum(r.sent for r in requests) == SIZE
    finally:
        server.stop()


def test_progress_from_several_threads_is_serialised(tmp_path, https_server) -> None:  # noqa: ANN001
    https_server.add("/big.bin", BIG)
    inside = threading.Semaphore(1)
    overlaps = []

    def progress(event: dict) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(event)
            return
        try:
            sum(range(2000))  # long enough for another thread to arrive if calls were not serialised
        finally:
            inside.release()

    _pull(_registry(tmp_path, https_server.url("/big.bin")), connections=4, progress=progress)
    assert overlaps == []
