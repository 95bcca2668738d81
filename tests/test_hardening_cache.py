"""The cache under kills, races and stale locks (issue 13, cases 2, 4 and 5, and two measured defects).

Every test uses real child processes (the ``zoo`` CLI or ``python -c``), real SIGKILLs, real lock files and the
loopback https server; each ends with an audit of the cache (tests/hardening.py) that must find nothing corrupt.

Defects reproduced first (the docstrings say what the code did before the fix):
- ``Cache.gc`` emptied all of ``tmp/``, a running export's work folder included, and removed a blob a running pull
  had committed but not yet linked (the link then dangled); ``gc``/``du`` never saw ``exports/``, ``vectors/``,
  ``sessions/``, ``embeds/``.
- Lock files were written through one fixed temp name (``.zoo.lock.tmp``): two writers raced on it and one of them
  failed with FileNotFoundError.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, file_entry, model_entry, run_zoo, sha256, write_registry
from hardening import audit
from models import TIMM_STAGES, serve, timm_resnet18, vision_entry

import zoo
from zoo import _atomic, _locks
from zoo.cache import Cache
from zoo.errors import LockTimeoutError

MIB = 1024 * 1024


def _payload(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _child(code: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A Python child in the repo, with this test's environment (ZOO_HOME...)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _zoo_child(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo_cli", *args], cwd=REPO, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(predicate, proc: subprocess.Popen[str], what: str, timeout: float = 120.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the child ended (rc {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.002)
    pytest.fail(f"no {what} after {timeout} s")


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()  # reaped: its pid is gone, as after a real crash
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return timm_resnet18(tmp_path_factory.mktemp("timm_hardening"), seed=13)


@pytest.fixture
def timm_reg(timm_bytes, https_server, tmp_path) -> Path:  # noqa: ANN001
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", timm_bytes[1])], TIMM_STAGES, size=64)
    return write_registry(tmp_path / "timm.yaml", {"hard-timm": entry})


# ---- case 2: kill -9 during an export and during a word-vector conversion ------------------------


@pytest.mark.hardening(case=2, name="kill -9 mid-export / mid-vectors")
def test_kill_during_export_then_rerun(timm_reg, tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """Killed while its work folder exists, an export leaves no output and no cached export; the rerun exports."""
    zoo.pull("hard-timm", registries=[timm_reg])
    out = tmp_path / "out.onnx"
    proc = _zoo_child("--registry", str(timm_reg), "export", "hard-timm", "--until", "layer2", "-o", str(out))
    work = _wait_for(lambda: [p for p in (zoo_env / "tmp").glob("export-*")] if (zoo_env / "tmp").is_dir() else [], proc, "an export work folder")
    _kill(proc)
    assert not out.exists(), "a killed export left an output file"
    assert not list((zoo_env / "exports").glob("*.onnx")) if (zoo_env / "exports").is_dir() else True
    # gc removes the dead process's work folder (its pid is in the name), and only that.
    report = Cache(zoo_env).gc()
    assert [str(work[0].relative_to(zoo_env))] == [r for r in report.removed if r.startswith("tmp/")]
    result = zoo.export("hard-timm", "layer2", out, registries=[timm_reg])
    assert result.parity is not None and result.parity.ok and out.is_file() and not result.cached
    assert audit(zoo_env, request=request) == []


def _word2vec_binary(n: int, dim: int) -> tuple[bytes, np.ndarray]:
    vecs = np.random.default_rng(5).standard_normal((n, dim)).astype(np.float32)
    body = b"".join(f"w{i} ".encode() + vecs[i].tobytes() + b"\n" for i in range(n))
    return f"{n} {dim}\n".encode() + body, vecs


@pytest.mark.hardening(case=2, name="kill -9 mid-export / mid-vectors")
def test_kill_during_vectors_conversion_then_rerun(tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """Killed while the converted folder is being written, nothing is served; the next load converts again."""
    n, dim = 120_000, 100  # 48 MB of float32: the write takes long enough to be caught
    data, vecs = _word2vec_binary(n, dim)
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(data)
    entry = {
        "task": "word-embedding", "modality": "text", "architecture": "word2vec",
        "paper": {"title": "Test vectors", "url": "https://example.org/paper"}, "default": "v1",
        "versions": {"v1": {
            "adapter": "word-vectors", "arch": "word2vec-binary", "license": "pddl",
            "files": [file_entry("big.bin", data, {"url": "https://example.invalid/big.bin"})],
        }},
    }
    reg = write_registry(tmp_path / "wv.yaml", {"hard-w2v": entry})
    zoo.resolve.import_folder(src, registries=[reg])
    vectors = zoo_env / "vectors"
    for attempt in range(3):
        proc = _child(f"import zoo; zoo.load_vectors('hard-w2v', registries=[{str(reg)!r}], offline=True)")
        temps = _wait_for(lambda: [p for p in vectors.iterdir() if _atomic.is_temp(p)] if vectors.is_dir() else [], proc, "a vectors temp folder")
        _kill(proc)
        finished = [p for p in vectors.iterdir() if not _atomic.is_temp(p)]
        if not finished:
            break
        for p in finished:  # the child won the race: try again with the folder removed
            import shutil

            shutil.rmtree(p)
    else:
        pytest.fail("the conversion finished before every kill")
    assert temps and not [p for p in vectors.iterdir() if not _atomic.is_temp(p)], "a half-written vectors folder is visible"
    report = Cache(zoo_env).gc()
    assert any(r.startswith("vectors/.") for r in report.removed)
    kv = zoo.load_vectors("hard-w2v", registries=[reg], offline=True)
    np.testing.assert_array_equal(np.asarray(kv["w7"]), vecs[7])
    assert len(kv) == n
    assert audit(zoo_env, request=request) == []


# ---- case 4: gc racing a pull, an export and an embedding run -------------------------------------


@pytest.mark.hardening(case=4, name="gc racing pull, export, embed")
def test_gc_hammered_during_pull_export_and_embed(timm_reg, timm_bytes, https_server, tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """gc (and gc --derived) in a loop while a pull, an export and an embedding run work: all three finish right.

    Before: gc deleted the pull's committed-but-unlinked first blob (its link then dangled), the export's work
    folder under tmp/, and knew nothing of exports/ or embeds/.
    """
    from sample_data import digits_folder

    # A two-file pull: the first file is committed, the second is held mid-body by the server.
    first, second = _payload(1 * MIB, 1), _payload(4 * MIB, 2)
    https_server.add("/race/first.bin", first)
    https_server.add("/race/second.bin", second)
    release = threading.Event()
    https_server.fault("/race/second.bin", "hold", release=release, after=MIB, seconds=60)
    files = [
        file_entry("first.bin", first, {"url": https_server.url("/race/first.bin")}),
        file_entry("second.bin", second, {"url": https_server.url("/race/second.bin")}),
    ]
    pull_reg = write_registry(tmp_path / "race.yaml", {"race-pull": model_entry(files)})
    zoo.pull("hard-timm", registries=[timm_reg])
    digits = digits_folder(tmp_path / "digits", n=96)

    pull = _zoo_child("--registry", str(pull_reg), "pull", "race-pull")
    export_out = tmp_path / "export.onnx"
    export = _zoo_child("--registry", str(timm_reg), "export", "hard-timm", "--until", "layer3", "-o", str(export_out))
    embed_out = tmp_path / "emb.parquet"
    embed = _zoo_child(
        "--registry", str(timm_reg), "embed", "hard-timm", str(digits), "-o", str(embed_out), "--until", "layer2",
        "--runtime", "torch", "--shard-size", "16", "--batch-size", "8",
    )
    children = [pull, export, embed]
    cache = Cache(zoo_env)
    seen_kept: set[str] = set()
    runs = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal runs
        while not stop.is_set():
            report = cache.gc(derived=runs % 2 == 1)
            seen_kept.update(why for _, why in report.kept)
            runs += 1
            time.sleep(0.01)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        blob = zoo_env / "blobs" / "sha256" / sha256(first)
        _wait_for(lambda: blob.is_file(), pull, "the first blob of the pull")
        time.sleep(0.3)  # several gc runs while the first blob is committed but not linked
        assert blob.is_file(), "gc removed a blob a running pull had committed"
        release.set()
        results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in children]
    finally:
        release.set()
        stop.set()
        thread.join()
        for p in children:
            if p.poll() is None:
                p.kill()
    for rc, _, err in results:
        assert rc == 0, err[-2000:]
    assert runs > 10
    assert any("another zoo process is using the cache" in why for why in seen_kept)
    folder = zoo_env / "models" / "race-pull" / "v1"
    assert (folder / "first.bin").read_bytes() == first and (folder / "second.bin").read_bytes() == second
    from zoo.transfer import read_embeddings

    vectors, ids, _, _ = read_embeddings(embed_out)
    assert vectors.shape == (96, 128) and len(set(ids)) == 96
    import onnx

    onnx.checker.check_model(str(export_out))
    assert Cache(zoo_env).verify().ok
    r = run_zoo("verify")
    assert r.returncode == 0, r.stderr
    assert audit(zoo_env, request=request) == []


@pytest.mark.hardening(case=4, name="gc racing pull, export, embed")
def test_gc_and_du_see_every_area(timm_reg, tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """du counts exports, sessions, vectors, embeds and stages; gc --derived drops them when nothing runs."""
    zoo.export("hard-timm", "layer2", tmp_path / "a.onnx", registries=[timm_reg])
    usage = json.loads(run_zoo("cache", "du", "--json").stdout)
    assert usage["areas"]["exports"] > 100_000 and usage["derived_bytes"] >= usage["areas"]["exports"]
    human = run_zoo("cache", "du").stdout
    assert "derived:" in human and "exports" in human
    r = run_zoo("cache", "gc", "--derived", "--json")
    report = json.loads(r.stdout)
    assert report["idle"] is True and any(p.startswith("exports/") for p in report["removed"])
    assert not list((zoo_env / "exports").glob("*.onnx"))
    # The model itself stays: its files are referenced.
    assert zoo.export("hard-timm", "layer2", tmp_path / "b.onnx", registries=[timm_reg], offline=True).parity.ok
    assert audit(zoo_env, request=request) == []


# ---- case 5: stale and unavailable locks ----------------------------------------------------------


def _served_model(https_server, tmp_path: Path, size: int = 2 * MIB) -> tuple[Path, bytes]:  # noqa: ANN001
    data = _payload(size, 9)
    https_server.add("/locks/w.bin", data)
    reg = write_registry(tmp_path / "l.yaml", {"lock-model": model_entry([file_entry("w.bin", data, {"url": https_server.url("/locks/w.bin")})])})
    return reg, data


_HOLD = """
    import sys, time
    from zoo.cache import Cache
    with Cache().lock({name!r}):
        print("held", flush=True)
        time.sleep(120)
"""


@pytest.mark.hardening(case=5, name="stale and unavailable locks")
@pytest.mark.parametrize("mode", ["flock", "soft"])
def test_a_killed_holders_lock_never_hangs_a_pull(mode, https_server, tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """A process killed while holding a blob's lock leaves the lock file behind; the next pull takes it at once."""
    reg, data = _served_model(https_server, tmp_path)
    env = {"ZOO_LOCKS": "soft"} if mode == "soft" else {}
    holder = _child(_HOLD.format(name=sha256(data)), env)
    assert holder.stdout.readline().strip() == "held"
    _kill(holder)
    lock = zoo_env / "locks" / f"{sha256(data)}.lock"
    assert lock.exists() or mode == "flock"  # a soft lock's marker stays; flock's file may stay too
    start = time.monotonic()
    r = run_zoo("--registry", str(reg), "pull", "lock-model", env={**env, "ZOO_LOCK_TIMEOUT": "30"})
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 20
    assert (zoo_env / "models" / "lock-model" / "v1" / "w.bin").read_bytes() == data
    assert audit(zoo_env, request=request) == []


@pytest.mark.hardening(case=5, name="stale and unavailable locks")
def test_lock_timeout_names_the_holder(https_server, tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """A live holder: the waiter gives up after ZOO_LOCK_TIMEOUT with the holder's pid, exit code 7."""
    reg, data = _served_model(https_server, tmp_path)
    holder = _child(_HOLD.format(name=sha256(data)))
    try:
        assert holder.stdout.readline().strip() == "held"
        r = run_zoo("--registry", str(reg), "pull", "lock-model", env={"ZOO_LOCK_TIMEOUT": "1"})
        assert r.returncode == 7, r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert f"pid {holder.pid}" in line and "ZOO_LOCK_TIMEOUT" in line
        with pytest.raises(LockTimeoutError) as info:
            with Cache(zoo_env).lock(sha256(data), timeout=0.2):
                pass
        assert info.value.holder["pid"] == holder.pid and info.value.waited >= 0.2
        assert isinstance(info.value, TimeoutError)
    finally:
        _kill(holder)
    r = run_zoo("--registry", str(reg), "pull", "lock-model", env={"ZOO_LOCK_TIMEOUT": "5"})
    assert r.returncode == 0, r.stderr
    assert audit(zoo_env, request=request) == []


# A file system without flock, as some network file systems are: flock fails with ENOSYS in this child.
_NO_FLOCK = """
    import errno, fcntl, sys
    def flock(fd, op):
        raise OSError(errno.ENOSYS, "Function not implemented")
    fcntl.flock = flock
    from zoo_cli.main import main
    sys.argv = ["zoo", *{args!r}]
    main()
"""


@pytest.mark.hardening(case=5, name="stale and unavailable locks")
def test_no_flock_falls_back_and_says_so(https_server, tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """Where flock is unavailable, locks fall back to marker files (said once) and gc keeps what it cannot judge."""
    reg, data = _served_model(https_server, tmp_path)
    proc = _child(_NO_FLOCK.format(args=["--registry", str(reg), "pull", "lock-model"]))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "does not support flock" in err and err.count("does not support flock") == 1
    assert (zoo_env / "models" / "lock-model" / "v1" / "w.bin").read_bytes() == data
    orphan = zoo_env / "blobs" / "sha256" / sha256(b"unreferenced")
    orphan.write_bytes(b"unreferenced")
    proc = _child(_NO_FLOCK.format(args=["cache", "gc", "--json"]))
    out, err = proc.communicate(timeout=120)
    report = json.loads(out)
    assert report["idle"] is False and orphan.exists()
    assert any("no flock" in k["why"] for k in report["kept"])
    assert audit(zoo_env, request=request) == []


# ---- the fixed temp name ---------------------------------------------------------------------------


_WRITER = """
    from zoo.resolve import write_lock
    for i in range(300):
        write_lock({{"zoo_lock": 1, "writer": {n}, "i": i}}, {path!r})
"""


@pytest.mark.hardening(case=4, name="gc racing pull, export, embed")
def test_two_writers_of_one_lock_file(tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """Two processes rewriting one lock file 300 times each: both succeed, the file is always whole JSON.

    Before: both wrote through ``.zoo.lock.tmp`` and one failed renaming a temp the other had already renamed.
    """
    target = tmp_path / "zoo.lock"
    writers = [_child(_WRITER.format(n=n, path=str(target))) for n in (1, 2)]
    seen = 0
    while any(w.poll() is None for w in writers):
        if target.exists():
            doc = json.loads(target.read_text())
            assert doc["zoo_lock"] == 1
            seen += 1
    for w in writers:
        assert w.wait() == 0, w.stderr.read()
    assert json.loads(target.read_text())["i"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["zoo.lock"], "a temp file was left behind"
    assert audit(zoo_env, request=request) == []


def test_temp_names_are_unique_and_carry_the_writer() -> None:
    names = {_atomic.temp_name("/x/y.json") for _ in range(1000)}
    assert len(names) == 1000
    owner = _atomic.temp_owner(next(iter(names)))
    assert owner is not None and owner[1] == os.getpid()
    assert _atomic.temp_owner("/x/.y.json.tmp") is None


def test_a_full_disk_is_an_insufficient_space_error(tmp_path) -> None:  # noqa: ANN001
    from zoo.errors import InsufficientSpaceError

    exc = _atomic.no_space(OSError(errno.ENOSPC, "No space left on device"), tmp_path, needed=123)
    assert isinstance(exc, InsufficientSpaceError) and isinstance(exc, OSError)
    assert exc.needed == 123 and exc.path == str(tmp_path) and exc.free > 0
    assert "123 more bytes" in str(exc) and "zoo cache rm" in str(exc)


def test_use_lock_is_shared_and_gc_waits_for_nobody(zoo_env) -> None:  # noqa: ANN001
    """Two users at once are fine; gc sees them (not idle) and returns at once instead of waiting."""
    with _locks.using(zoo_env), _locks.using(zoo_env):
        start = time.monotonic()
        with _locks.idle(zoo_env) as idle:
            assert idle is False
        assert time.monotonic() - start < 5  # it does not wait for the users
    with _locks.idle(zoo_env) as idle:
        assert idle is True


_PULL_WITHOUT_TORCH = """
    import atexit, sys
    atexit.register(lambda: print("torch imported" if "torch" in sys.modules else "no torch", file=sys.stderr))
    sys.argv = ["zoo", *{args!r}]
    from zoo_cli.main import main
    main()
"""


def test_a_pull_imports_no_framework(timm_reg, zoo_env) -> None:  # noqa: ANN001
    """``zoo pull`` of a timm model verifies files and imports no torch (it took ~5 s per process before)."""
    proc = _child(_PULL_WITHOUT_TORCH.format(args=["--registry", str(timm_reg), "pull", "hard-timm"]))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == "no torch"
    assert (zoo_env / "models" / "hard-timm" / "v1" / "model.safetensors").is_file()


def test_verify_reports_a_model_file_that_leads_elsewhere_and_pull_relinks_it(https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    reg, data = _served_model(https_server, tmp_path)
    zoo.pull("lock-model", registries=[reg])
    link = zoo_env / "models" / "lock-model" / "v1" / "w.bin"
    link.unlink()
    link.write_bytes(b"edited in place")
    r = run_zoo("verify", "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["corrupt"] == [] and report["broken"] == [{"file": "models/lock-model/v1/w.bin", "sha256": sha256(data)}]
    assert run_zoo("--registry", str(reg), "pull", "lock-model").returncode == 0
    assert link.read_bytes() == data and Cache(zoo_env).verify().ok
