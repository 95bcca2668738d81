"""The hardening suite's bookkeeping (issue 13): which case each test belongs to, what the cache holds afterwards.

A test of the suite is marked ``@pytest.mark.hardening(case=N, name="...")`` and calls :func:`audit` on every
``ZOO_HOME`` it used once its processes are done; the audit counts files a reader would trust but that are not
whole and right: a blob whose sha256 is not its name, a model link that does not lead to the blob its manifest
names, a temp file left in a committed area by a process that is gone, a vectors folder missing a file, an
exported ONNX file that does not parse. ``conftest.py`` collects, per case, the tests tried, the tests that
passed and the corrupt files the audits found, and prints the table at the end of the run (``make hardening``
runs only these tests; ``make test`` runs them with everything else and prints the same table).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["audit", "CASES", "Tally", "record_audit", "wait_for"]

CASES = {
    1: "kill -9 mid-pull, rerun resumes",
    2: "kill -9 mid-export / mid-vectors",
    3: "disk full mid-download",
    4: "gc racing pull, export, embed",
    5: "stale and unavailable locks",
    6: "hostile archives and folders",
    7: "hostile ONNX files",
    8: "fuzzed parsers (hypothesis)",
    9: "server faults in sequence",
    10: "8 processes, one ZOO_HOME",
}


@dataclass
class Tally:
    tried: int = 0
    survived: int = 0
    corrupt: int = 0
    audits: int = 0
    problems: list[str] = field(default_factory=list)


TALLY: dict[int, Tally] = {}
_AUDITS: dict[str, list[list[str]]] = {}  # test nodeid -> problems found by each audit it ran


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls ``condition`` every 20 ms until it holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def audit(home: str | os.PathLike[str], *, request: pytest.FixtureRequest | None = None) -> list[str]:
    """Every file under ``home`` that a reader would trust but is not whole and right (empty: all sound).

    Blobs are re-hashed (not removed); every model folder's links must reach the blob its manifest names;
    temps of processes that are gone must not remain in ``blobs/``, ``models/``, ``exports/``, ``vectors/``,
    ``sessions/``; converted vectors folders must hold all their files; exported ONNX files must parse.
    """
    from zoo import _atomic
    from zoo._layout import pid_alive
    from zoo.cache import Cache

    root = Path(home)
    cache = Cache(root)
    report = cache.verify(remove=False)
    problems = [f"blob {name[:12]}… holds sha256 {actual[:12]}…" for name, actual in report.corrupt]
    problems += [f"{file}: does not lead to blob {sha[:12]}…" for file, sha in report.broken]
    for area in ("blobs", "models", "exports", "vectors", "sessions"):
        base = root / area
        for path in base.rglob("*") if base.is_dir() else ():
            owner = _atomic.temp_owner(path)
            if owner is not None and not pid_alive(owner[1], owner[0]):
                problems.append(f"{path}: temp left by a process that is gone")
    vectors = root / "vectors"
    for folder in sorted(vectors.iterdir()) if vectors.is_dir() else ():
        if folder.is_dir() and not _atomic.is_temp(folder):
            missing = {"vectors.safetensors", "vocab.txt", "report.json"} - {p.name for p in folder.iterdir()}
            if missing:
                problems.append(f"{folder}: missing {', '.join(sorted(missing))}")
    exports = root / "exports"
    if exports.is_dir() and any(exports.glob("*.onnx")):
        import onnx

        for path in sorted(exports.glob("*.onnx")):
            try:
                onnx.load(str(path), load_external_data=False)
            except Exception as exc:  # noqa: BLE001 - any failure to parse is what we count
                problems.append(f"{path}: does not parse ({type(exc).__name__})")
    if request is not None:
        record_audit(request, problems)
    return problems


def record_audit(request: pytest.FixtureRequest, problems: list[str]) -> None:
    """Counts an audit's findings for the test that ran it (the table's last column)."""
    _AUDITS.setdefault(request.node.nodeid, []).append(list(problems))


def tag(item: pytest.Item, marker: pytest.Mark) -> dict:
    """What the table needs of one finished test: its case and its audits' findings (plain data, for xdist)."""
    case = int(marker.kwargs.get("case", marker.args[0] if marker.args else 0))
    return {"case": case, "audits": _AUDITS.pop(item.nodeid, [])}


def report(tag: dict, passed: bool) -> None:
    """Counts one finished test of the suite (called where the reports arrive: the xdist controller, or in-process)."""
    tally = TALLY.setdefault(tag["case"], Tally())
    tally.tried += 1
    tally.survived += int(passed)
    for problems in tag["audits"]:
        tally.audits += 1
        tally.corrupt += len(problems)
        tally.problems += problems


def table() -> list[str]:
    if not TALLY:
        return []
    lines = [
        "| case | what | tried | survived | audits | corrupt files |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for case in sorted(TALLY):
        t = TALLY[case]
        lines.append(f"| {case} | {CASES.get(case, '?')} | {t.tried} | {t.survived} | {t.audits} | {t.corrupt} |")
    total = Tally(*(sum(getattr(t, k) for t in TALLY.values()) for k in ("tried", "survived", "corrupt", "audits")))
    lines.append(f"| all | | {total.tried} | {total.survived} | {total.audits} | {total.corrupt} |")
    missing = sorted(set(CASES) - set(TALLY))
    if missing:
        lines.append(f"cases with no test run: {', '.join(map(str, missing))}")
    for t in TALLY.values():
        lines += [f"  corrupt: {p}" for p in t.problems[:10]]
    return lines
