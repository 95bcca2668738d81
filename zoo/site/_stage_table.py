"""The shipped stage table: the main stages of every registry version whose architecture needs no file.

Deriving stages builds the architecture (``zoo stages``: torch, ~0.4 s per
version here, ~14 min for the 1,936 timm and torchvision versions), far too
slow for ``zoo catalog``'s build. So the table is derived once, by
``zoo registry stages -o registry/generated/stages.json``, from the installed
frameworks (recorded in the file) and shipped with the registry; the site's
cards read it where the local stage cache has nothing. It is documentation:
cutting a model always derives its stages from the architecture itself.

Format (one JSON object)::

    {"format": 1, "frameworks": {"timm": "1.0.31", ...}, "zoo": "0.1.0",
     "stages": {"<adapter>|<arch>|<arch_args JSON>|<C>x<H>x<W>": [[name, channels, stride, [shape]], ...]},
     "failed": {"<same key>": "why"}}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import _atomic, _settings

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["TABLE_FORMAT", "table_path", "key", "lookup", "write_table"]

TABLE_FORMAT = 1
_MAX_BYTES = 16 * 2**20  # a table larger than this is not zoo's


def table_path() -> Path:
    """Where the shipped table lives: beside the generated registry files."""
    return _settings.shipped_registry() / "generated" / "stages.json"


def key(info: ModelInfo) -> str:
    """What determines a version's stages, as the table's key."""
    shape = "x".join(str(d) for d in info.input.shape) if info.input is not None and info.input.shape else "-"
    return f"{info.adapter}|{info.arch}|{json.dumps(info.arch_args, sort_keys=True)}|{shape}"


@functools.lru_cache(maxsize=4)
def _read(path: Path, stamp: tuple[int, int]) -> dict[str, Any]:
    if stamp[0] > _MAX_BYTES:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == TABLE_FORMAT else {}


def lookup(info: ModelInfo, path: Path | None = None) -> tuple[list[tuple[str, int, int, tuple[int, ...] | None]], dict[str, str]] | None:
    """(main stages, the frameworks they were derived with) of a version, or None when the table has none."""
    path = path or table_path()
    try:
        st = path.stat()
    except OSError:
        return None
    data = _read(path, (st.st_size, st.st_mtime_ns))
    rows = data.get("stages", {}).get(key(info))
    if not rows:
        return None
    return [(r[0], int(r[1]), int(r[2]), tuple(r[3]) if r[3] else None) for r in rows], dict(data.get("frameworks", {}))


def derivable(catalog: Any, names: Any = None) -> tuple[list[Any], int]:
    """The versions (of ``names``, default all) whose architecture zoo builds without a file, and how many others were skipped.

    File-defined architectures (ONNX, Caffe, transformers configs) need their files pulled first.
    """
    from zoo._plugins import ADAPTERS

    found, skipped = [], 0
    for info in catalog.versions(names):
        spec = ADAPTERS.get(info.adapter)
        if spec is None or spec.file_defined:
            skipped += 1
        else:
            found.append(info)
    return found, skipped


def derive_each(infos: Sequence[Any], progress: Callable[[dict[str, Any]], None] | None) -> Iterator[tuple[Any, Any, str | None]]:
    """Derives the stages of each version: ``(info, stage set, None)``, or ``(info, None, why)`` for one that does not build.

    One architecture that does not build (a third-party bug) must not lose the run: its error is kept, in one line.
    """
    from zoo.features import stage_set

    for done, info in enumerate(infos, 1):
        try:
            yield info, stage_set(info), None
        except Exception as exc:  # noqa: BLE001 - see above
            text = str(exc).strip()
            yield info, None, f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:200]
        if progress is not None:
            progress({"event": "progress", "model": "stages", "done": done, "total": len(infos)})


def write_table(
    output: str | Path, catalog: Any, *, progress: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Derives the main stages of every version whose architecture needs no file and writes the table.

    Returns:
        ``{"path", "derived", "failed", "skipped"}``: keys written, keys whose
        architecture did not build (with why, also in the file), versions
        left out (file-defined architectures: ONNX, Caffe, transformers).
    """
    from zoo._plugins import ADAPTERS
    from zoo._stages import _installed
    from zoo._version import __version__

    infos, skipped = derivable(catalog)
    todo: dict[str, Any] = {}
    for info in infos:
        todo.setdefault(key(info), info)
    stages: dict[str, list[Any]] = {}
    failed: dict[str, str] = {}
    frameworks = {p for info in todo.values() for p in ADAPTERS[info.adapter].frameworks}
    for info, found, why in derive_each([todo[k] for k in sorted(todo)], progress):
        if found is None:
            failed[key(info)] = why  # type: ignore[assignment]
        else:
            stages[key(info)] = [[s.name, s.channels, s.stride, list(s.shape) if s.shape else None] for s in found.main]
    data = {
        "format": TABLE_FORMAT, "zoo": __version__, "frameworks": {p: _installed(p) for p in sorted(frameworks)},
        "stages": stages, "failed": failed,
    }
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic.write_text(path, json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    return {"path": str(path), "derived": len(stages), "failed": failed, "skipped": skipped}
