"""Rendering pull progress events: rich bars on a terminal, JSON lines with --json."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

__all__ = ["make_reporter", "make_item_reporter"]


class _JsonLines:
    """Prints events as JSON lines; byte events are folded into ``progress`` lines."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.done: dict[tuple[str, str], int] = {}
        self.sizes: dict[tuple[str, str], int] = {}
        self.last: dict[tuple[str, str], float] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "file":
            self.sizes[(event["model"], event["path"])] = event["size"]
        if kind == "bytes":
            key = (event["model"], event["path"])
            self.done[key] = self.done.get(key, 0) + event["n"]
            now = time.monotonic()
            if now - self.last.get(key, 0.0) < self.interval and self.done[key] < self.sizes.get(key, -1):
                return
            self.last[key] = now
            event = {"event": "progress", "model": key[0], "path": key[1], "done": self.done[key], "size": self.sizes.get(key)}
        click.echo(json.dumps(event))

    def close(self) -> None:
        pass


class _Bars:
    """Rich progress bars: one per file being fetched, plus a total."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=False,
            console=Console(stderr=True),
        )
        self.progress.start()
        self.tasks: dict[tuple[str, str], Any] = {}
        self.total: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        p = self.progress
        if kind == "start" and event["missing"]:
            self.total = p.add_task(f"{event['model']} total", total=event["missing_bytes"])
        elif kind == "file" and event["status"] in ("fetching", "uploading"):
            self.tasks[(event["model"], event["path"])] = p.add_task(f"  {event['path']}", total=event["size"])
        elif kind == "bytes":
            task = self.tasks.get((event["model"], event["path"]))
            if task is not None:
                p.advance(task, event["n"])
            if self.total is not None:
                p.advance(self.total, event["n"])
        elif kind == "retry":
            p.console.print(f"  retry {event['attempt']} for {event['path']} in {event['wait']:.1f}s: {event['error']}")
        elif kind == "fallback":
            p.console.print(f"  mirror {event['source']} failed for {event['path']}: {event['error']}")
        elif kind == "fetched":
            task = self.tasks.get((event["model"], event["path"]))
            if task is not None:
                p.update(task, completed=p.tasks[task].total)
        elif kind == "adopted":
            p.console.print(f"  adopted {event['file']}")

    def close(self) -> None:
        self.progress.stop()


class _Quiet:
    def __call__(self, event: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def make_reporter(as_json: bool, show: bool | None) -> Any:
    """Returns a progress callback with ``close()``.

    Args:
        as_json: Print JSON lines on stdout.
        show: Force bars on (True) or off (False); None means bars only on a terminal.
    """
    if as_json:
        return _JsonLines()
    if show is None:
        show = sys.stderr.isatty()
    return _Bars() if show else _Quiet()


class _ItemBar:
    """One rich bar over a dataset's items, with items/s and the time left (embed, probe)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.progress.start()
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] != "progress" or "total" not in event:
            return
        label = event.get("model") or "embedding"
        task = self.tasks.get(label)
        if task is None:
            task = self.tasks[label] = self.progress.add_task(label, total=event["total"], rate="")
        rate = event.get("items_per_s")
        self.progress.update(task, completed=event["done"], rate=f"{rate:.1f} items/s" if rate else "")

    def close(self) -> None:
        self.progress.stop()


class _ItemJson:
    """JSON lines of item progress, at most a few a second (the last one always)."""

    def __init__(self, err: bool, interval: float = 0.25):
        self.err = err
        self.interval = interval
        self.last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "bytes":
            return  # a pull inside an export: too fine-grained for item progress
        if event["event"] == "progress" and event.get("done") != event.get("total"):
            now = time.monotonic()
            if now - self.last < self.interval:
                return
            self.last = now
        click.echo(json.dumps(event), err=self.err)

    def close(self) -> None:
        pass


def make_item_reporter(as_json: bool, show: bool | None, *, err: bool = False) -> Any:
    """Like :func:`make_reporter`, for work counted in items (JSON lines on stderr with ``err``: stdout holds a result)."""
    if as_json:
        return _ItemJson(err)
    if show is None:
        show = sys.stderr.isatty()
    return _ItemBar() if show else _Quiet()
