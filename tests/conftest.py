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


@pytest.fixture(autouse=True)
def zoo_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty ZOO_HOME and no extra registries."""
    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    for var in ("ZOO_REGISTRY", "ZOO_OFFLINE", "ZOO_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    from zoo import registry

    registry._CATALOGS.clear()
    return home


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
