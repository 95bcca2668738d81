"""Shared fixtures: an isolated ZOO_HOME, registry files written to disk, a CLI runner."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "registry"

_FAILED = pytest.StashKey[bool]()
_OUTCOME: dict[str, str] = {}  # hardening-suite tests: nodeid -> "passed", "failed" or "skipped" so far


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201
    """Tags a hardening-suite test's teardown report with its case and audits (carried to the xdist controller)."""
    outcome = yield
    marker = item.get_closest_marker("hardening")
    rep = outcome.get_result()
    if rep.failed:
        item.stash[_FAILED] = True  # zoo_env keeps a failed test's ZOO_HOME to look at
    if marker is not None and rep.when == "teardown":
        import hardening

        rep.user_properties.append(("hardening", hardening.tag(item, marker)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Feeds the hardening table (tests/hardening.py): a test survived when setup, call and teardown all passed."""
    so_far = _OUTCOME.get(report.nodeid, "passed")
    _OUTCOME[report.nodeid] = "failed" if report.failed or so_far == "failed" else "skipped" if report.skipped else so_far
    if report.when != "teardown":
        return
    final = _OUTCOME.pop(report.nodeid)
    tags = [value for key, value in report.user_properties if key == "hardening"]
    if tags and final != "skipped":
        import hardening

        hardening.report(tags[0], passed=final == "passed")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import hardening

    lines = hardening.table()
    if lines:
        terminalreporter.section("hardening suite (issue 13)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def _shipped_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped registry's index, built once per session (thousands of versions: ~1 s to build)."""
    import shutil

    from zoo import registry

    template = tmp_path_factory.mktemp("index_template")
    old = os.environ.get("ZOO_HOME")
    os.environ["ZOO_HOME"] = str(template)
    try:
        registry._CATALOGS.clear()
        registry.load_catalog()
    finally:
        if old is None:
            os.environ.pop("ZOO_HOME", None)
        else:
            os.environ["ZOO_HOME"] = old
        registry._CATALOGS.clear()
    shutil.rmtree(template / "stages", ignore_errors=True)
    return template / "index"


@pytest.fixture(autouse=True)
def zoo_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _shipped_index: Path
) -> Iterator[Path]:
    """Every test gets its own ZOO_HOME (empty but for a copy of the shipped registry's index) and no extra registries.

    A passed test's ZOO_HOME is removed afterwards: a full run writes ~15 GB of caches there, and pytest's
    retention policy (``tmp_path_retention_policy``) covers ``tmp_path``, not ``mktemp`` folders.
    """
    import shutil

    home = tmp_path_factory.mktemp("zoo_home")
    if _shipped_index.is_dir():
        shutil.copytree(_shipped_index, home / "index")
    monkeypatch.setenv("ZOO_HOME", str(home))
    for var in ("ZOO_REGISTRY", "ZOO_OFFLINE", "ZOO_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    from zoo import registry

    registry._CATALOGS.clear()
    yield home
    if not request.node.stash.get(_FAILED, False):
        shutil.rmtree(home, ignore_errors=True)


def shipped_model(name: str) -> dict[str, Any]:
    """Returns a deep copy of a real model entry from the shipped registry."""
    for path in sorted(SHIPPED.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if name in data["models"]:
            return copy.deepcopy(data["models"][name])
    raise KeyError(name)


def write_registry(path: Path, models: dict[str, Any], **top: Any) -> Path:
    """Writes a registry YAML file with the given models; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"schema_version": 1, **top, "models": models}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_zoo(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the real ``zoo`` CLI in a child process."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "zoo_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


# ---- loopback servers -------------------------------------------------------------

import hashlib  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from servers import FileServer, HFServer, make_tls  # noqa: E402


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A trustme CA and a server TLS context for 127.0.0.1."""
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(tls: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """An https origin on 127.0.0.1 whose CA the process trusts (SSL_CERT_FILE)."""
    ctx, ca = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    server = FileServer(ssl_context=ctx)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http_server() -> Iterator[FileServer]:
    """A plain-http server on 127.0.0.1 (for mirrors)."""
    server = FileServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hf_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HFServer]:
    """A fake Hugging Face Hub; HF_ENDPOINT points at it."""
    server = HFServer()
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.base_url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


# A made-up 40-hex revision for repos served by the fake Hugging Face Hub.
REV = "0123456789abcdef0123456789abcdef01234567"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(path: str, data: bytes, source: dict[str, str]) -> dict[str, Any]:
    """A registry file entry for bytes we made."""
    return {"path": path, "size": len(data), "sha256": sha256(data), "source": source}


def model_entry(files: list[dict[str, Any]], version: str = "v1", modality: str = "text") -> dict[str, Any]:
    """A registry model entry for test files (a text model: no input spec needed)."""
    return {
        "task": "feature-extraction",
        "modality": modality,
        "architecture": "test payload",
        "paper": {"title": "Test payload", "url": "https://example.org/paper"},
        "default": version,
        "versions": {version: {"adapter": "transformers", "arch": "bert", "license": "apache-2.0", "files": files}},
    }


@pytest.fixture
def two(https_server: FileServer, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """Models 'alpha' (two files) and 'beta' (one file shared with alpha, one of its own) at an https origin (mirror tests)."""
    shared, a, b = b"S" * ((1 << 20) + 3), b"A" * 1000, b"B" * 2000
    for name, data in (("shared", shared), ("a", a), ("b", b)):
        https_server.add(f"/o/{name}", data)
    alpha = model_entry([file_entry("w.bin", a, {"url": https_server.url("/o/a")}),
                         file_entry("common.bin", shared, {"url": https_server.url("/o/shared")})])
    beta = model_entry([file_entry("w.bin", b, {"url": https_server.url("/o/b")}),
                        file_entry("common.bin", shared, {"url": https_server.url("/o/shared")})])
    reg = write_registry(tmp_path / "reg" / "team.yaml", {"alpha": alpha, "beta": beta})
    return reg, {"shared": shared, "a": a, "b": b}
