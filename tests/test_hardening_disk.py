"""Disk full mid-download (issue 13, case 3), on a file system that really fills up: a small tmpfs as ``ZOO_HOME``.

Mounting needs root; without it (or where ``mount -t tmpfs`` fails) the tests are skipped with the reason. The tmpfs
holds the whole ``ZOO_HOME``, registry index included (~8 MB with the shipped registry), so the module builds the
index once on a roomy mount, then each test remounts it with ``size=`` what is used plus the free space it wants
(a tmpfs can shrink down to its usage). Files come from a real https server; ``zoo pull`` runs as a real process
where the exit code and the message matter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REV, file_entry, model_entry, run_zoo, sha256, write_registry
from hardening import audit, wait_for
from servers import FileServer

import zoo
from zoo import registry
from zoo.errors import InsufficientSpaceError
from zoo.fetch import RetryPolicy

MIB = 1024 * 1024
PAGE = 4096
FAST = RetryPolicy(attempts=3, backoff=0.05, max_wait=5.0, connect_timeout=5.0, read_timeout=10.0)
HF_REPO = "test-org/big"


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic bytes that do not repeat within a MiB."""
    block = bytes((i * 131 + seed * 7 + (i >> 8) * 17) % 256 for i in range(65536))
    return (block * (n // len(block) + 1))[:n]


BIG = payload(6 * MIB, seed=3)




def space_numbers(message: str) -> tuple[int, int]:
    """(needed, free) as a message names them: '6,291,456 bytes needed, 4,190,208 free'."""
    found = re.search(r"([\d,]+) bytes needed, ([\d,]+) free", message)
    assert found, message
    return int(found[1].replace(",", "")), int(found[2].replace(",", ""))


class SmallDisk:
    """The tmpfs mounted as ``ZOO_HOME``, the registry naming its files and the https server serving them."""

    def __init__(self, mount: Path, reg: Path, server: FileServer, ca: Path):
        self.mount, self.reg, self.server, self.ca = mount, reg, server, ca
        self.blobs = mount / "blobs" / "sha256"
        self.partial = self.blobs / f"{sha256(BIG)}.partial"

    def free(self) -> int:
        return shutil.disk_usage(self.mount).free

    def set_free(self, free: int) -> None:
        """Remounts the tmpfs so that ``free`` bytes (rounded up to pages) are free."""
        size = shutil.disk_usage(self.mount).used + -(-free // PAGE) * PAGE
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.mount)], check=True, capture_output=True)
        assert abs(self.free() - free) < PAGE, (self.free(), free)

    def fill(self, leave: int) -> Path:
        """Writes a filler file so that only ``leave`` bytes stay free; returns it."""
        filler = self.mount / "filler"
        n = self.free() - leave
        with open(filler, "ab") as fh:
            while n > 0:
                n -= fh.write(bytes(min(n, MIB)))
        return filler

    def clean(self) -> None:
        """Everything but the registry index goes."""
        for path in self.mount.iterdir():
            if path.name != "index":
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.blobs.iterdir() if len(p.name) != 64) if self.blobs.is_dir() else []


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory, tls) -> Iterator[SmallDisk]:  # noqa: ANN001
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a disk that really fills up) needs root")
    base = tmp_path_factory.mktemp("small_disk")
    mount = base / "home"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    server = FileServer(ssl_context=tls[0]).start()
    try:
        server.add("/files/big.bin", BIG)
        models = {
            "big": model_entry([file_entry("weights.bin", BIG, {"url": server.url("/files/big.bin")})]),
            "big-hf": model_entry([file_entry("model.safetensors", BIG, {"hf": HF_REPO, "revision": REV, "file": "model.safetensors"})]),
        }
        reg = write_registry(base / "reg" / "big.yaml", models)
        old = os.environ.get("ZOO_HOME")
        os.environ["ZOO_HOME"] = str(mount)
        try:
            registry._CATALOGS.clear()
            registry.load_catalog([reg])  # the index, written into the tmpfs once for the module
        finally:
            os.environ.pop("ZOO_HOME") if old is None else os.environ.__setitem__("ZOO_HOME", old)
            registry._CATALOGS.clear()
        yield SmallDisk(mount, reg, server, tls[1])
    finally:
        server.stop()
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def small_home(disk: SmallDisk, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    """The tmpfs as this test's ``ZOO_HOME``: emptied (but for the index), the server's log and faults cleared."""
    disk.clean()
    disk.set_free(32 * MIB)
    disk.server.clear_requests()
    disk.server.clear_faults()
    monkeypatch.setenv("ZOO_HOME", str(disk.mount))
    monkeypatch.setenv("SSL_CERT_FILE", str(disk.ca))
    registry._CATALOGS.clear()
    yield disk
    disk.server.clear_faults()
    disk.clean()


@pytest.mark.hardening(case=3, name="a file the disk cannot hold is refused before any byte is fetched")
def test_a_file_the_disk_cannot_hold_is_refused_at_once(small_home: SmallDisk, request) -> None:  # noqa: ANN001
    """A 6 MiB file and 4 MiB free: before, the pull fetched 4 MiB and then failed on ENOSPC with an internal error
    (exit 1, ``OSError``); now it stops before its first request with ``InsufficientSpaceError`` (exit 7) naming the
    bytes needed and free, in one line, and leaves no partial."""
    disk = small_home
    disk.set_free(4 * MIB)
    r = run_zoo("--registry", str(disk.reg), "pull", "big")
    assert r.returncode == 7, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("zoo: error: big@v1: weights.bin: not enough free space"), line
    needed, free = space_numbers(line)
    assert needed == len(BIG) and 4 * MIB - 16 * PAGE <= free <= 4 * MIB
    assert str(disk.blobs) in line and "zoo cache gc" in line
    with pytest.raises(InsufficientSpaceError) as info:
        zoo.pull("big", registries=[disk.reg], policy=FAST)
    err = info.value
    assert (err.needed, err.path) == (len(BIG), str(disk.blobs)) and 0 < err.free < len(BIG)
    assert disk.server.requests == []
    assert not disk.partial.exists() and disk.leftovers() == []
    assert audit(disk.mount, request=request) == []


@pytest.mark.hardening(case=3, name="the bytes a partial holds count toward the space needed")
def test_a_partial_counts_toward_the_space_needed(small_home: SmallDisk, request) -> None:  # noqa: ANN001
    """4 MiB of the 6 MiB file kept from an earlier pull and 3 MiB free: the 2 MiB still to come fit, so the pull
    resumes (``Range: bytes=4194304-``) instead of being refused for the whole 6 MiB."""
    disk = small_home
    disk.blobs.mkdir(parents=True)
    disk.partial.write_bytes(BIG[: 4 * MIB])
    disk.set_free(3 * MIB)
    folder = zoo.pull("big", registries=[disk.reg], policy=FAST)
    assert (folder / "weights.bin").read_bytes() == BIG
    (get,) = disk.server.requests_for("/files/big.bin", "GET")
    assert (get.headers.get("range"), get.status) == (f"bytes={4 * MIB}-", 206)
    assert disk.leftovers() == []
    assert audit(disk.mount, request=request) == []


@pytest.mark.hardening(case=3, name="disk fills up mid-download: exit 7, partial kept, resumed once space is freed")
def test_disk_filling_up_mid_download_keeps_the_partial(small_home: SmallDisk, request) -> None:  # noqa: ANN001
    """8 MiB free at the start, so the 6 MiB file passes the check; the server holds the body after 5 MiB while
    another file fills the disk to 256 KiB free, then sends the last MiB. Before: the unbuffered write took 256 KiB of
    that last block without an error, the rest was dropped unnoticed, and the 5.25 MiB partial was committed as the
    6 MiB blob (checked against the sha256 of the bytes received, not of the bytes on disk); the pull then failed
    writing the model's manifest (exit 7, naming ``models/big/v1``) and left a corrupt blob every later pull trusts.
    Now every block is written whole or the pull stops: exit 7 with one line naming the file and the space, the
    partial (a true prefix) kept, nothing in ``blobs/`` or ``models/``; with some space freed (less than the whole
    file) the next ``zoo pull`` resumes it with ``Range`` and verifies it."""
    disk = small_home
    disk.set_free(8 * MIB)
    release = threading.Event()
    disk.server.fault("/files/big.bin", "hold", after=5 * MIB, release=release)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo_cli", "--registry", str(disk.reg), "pull", "big"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: disk.partial.exists() and disk.partial.stat().st_size >= 5 * MIB, 30, "5 MiB in the partial")
        filler = disk.fill(leave=256 * 1024)
        release.set()
        _, stderr = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7, stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("zoo: error: big@v1: weights.bin: the disk filled up during the download"), line
    assert "bytes free" in line and "more bytes are needed" in line and "the next pull resumes them" in line
    kept = disk.partial.stat().st_size
    assert 5 * MIB < kept < len(BIG)
    assert disk.partial.read_bytes() == BIG[:kept]
    assert disk.leftovers() == [disk.partial.name] and not (disk.mount / "models" / "big").exists()
    assert audit(disk.mount, request=request) == []

    # Free some space, less than the whole file but enough for the rest: the partial must count.
    with open(filler, "r+b") as fh:
        fh.truncate(filler.stat().st_size - (len(BIG) - kept) - 128 * 1024)
    assert disk.free() < len(BIG)
    disk.server.clear_requests()
    r = run_zoo("--registry", str(disk.reg), "pull", "big")
    assert r.returncode == 0, r.stderr
    (get,) = disk.server.requests_for("/files/big.bin", "GET")
    assert (get.headers.get("range"), get.status, get.bytes_sent) == (f"bytes={kept}-", 206, len(BIG) - kept)
    assert Path(r.stdout.strip(), "weights.bin").read_bytes() == BIG
    assert disk.leftovers() == []
    filler.unlink()
    assert audit(disk.mount, request=request) == []


@pytest.mark.hardening(case=3, name="a Hugging Face file the disk cannot hold is refused before any request")
def test_hf_file_the_disk_cannot_hold_is_refused_at_once(small_home: SmallDisk, hf_server, request) -> None:  # noqa: ANN001
    """huggingface_hub stages the whole file under ``tmp/``; with 4 MiB free a 6 MiB file is refused before the
    first request to the Hub (before: HEAD, then GET, then ENOSPC reported as a download error, exit 5)."""
    disk = small_home
    hf_server.add_repo(HF_REPO, REV, {"model.safetensors": BIG})
    disk.set_free(4 * MIB)
    with pytest.raises(InsufficientSpaceError) as info:
        zoo.pull("big-hf", registries=[disk.reg], policy=FAST)
    assert info.value.needed == len(BIG) and info.value.free < len(BIG)
    assert "big-hf@v1: model.safetensors: not enough free space" in str(info.value)
    assert hf_server.requests == []
    assert audit(disk.mount, request=request) == []


@pytest.mark.hardening(case=3, name="disk fills up during a Hugging Face download: exit 7's error, tmp/ cleaned")
def test_disk_filling_up_during_a_hf_download(small_home: SmallDisk, hf_server, request) -> None:  # noqa: ANN001
    """The Hub holds the body (huggingface_hub writes it in 10 MiB blocks, so nothing of it is on disk yet) while
    another file fills the disk. Before: ``DownloadError`` ('Hugging
    Face download failed ([Errno 28] ...)', exit 5: "try again later"); now ``InsufficientSpaceError`` (exit 7)
    naming the space, the staging folder under ``tmp/`` removed (huggingface_hub cannot resume it), nothing in
    ``blobs/``; once the filler is gone the pull succeeds."""
    disk = small_home
    hf_server.add_repo(HF_REPO, REV, {"model.safetensors": BIG})
    release = threading.Event()
    resolve = hf_server.resolve_path(HF_REPO, REV, "model.safetensors")
    hf_server.fault(resolve, "hold", after=0, release=release)
    disk.set_free(8 * MIB)
    outcome: list[BaseException | Path] = []

    def pull() -> None:
        try:
            outcome.append(zoo.pull("big-hf", registries=[disk.reg], policy=FAST))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=pull)
    worker.start()
    try:
        wait_for(lambda: any(r.fault == "hold" for r in hf_server.requests_for(resolve, "GET")), 30, "the held GET")
        filler = disk.fill(leave=0)
        release.set()
        worker.join(60)
    finally:
        release.set()
        worker.join(60)
    (err,) = outcome
    assert isinstance(err, InsufficientSpaceError), repr(err)
    assert str(err).startswith("big-hf@v1: model.safetensors: the disk filled up during the download")
    assert err.needed == len(BIG) and err.free < MIB
    assert [p for p in (disk.mount / "tmp").rglob("*") if p.is_file()] == []
    assert disk.leftovers() == [] and not (disk.blobs / sha256(BIG)).exists()
    filler.unlink()
    folder = zoo.pull("big-hf", registries=[disk.reg], policy=FAST)
    assert (folder / "model.safetensors").read_bytes() == BIG
    assert audit(disk.mount, request=request) == []
