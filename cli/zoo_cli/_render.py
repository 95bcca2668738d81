"""Human-readable rendering for the CLI. rich is imported only here, when needed."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

__all__ = ["human_size", "human_count", "emit_json", "table", "console"]


def human_size(n: int | None) -> str:
    """Formats bytes with decimal units, as download sizes are usually quoted."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - loop always returns


def human_count(n: int | None) -> str:
    """Formats a parameter count as 25.6M / 1.2B."""
    if n is None:
        return "-"
    for div, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def emit_json(data: Any) -> None:
    """Writes one JSON document to stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def console(stderr: bool = False):  # noqa: ANN201 - rich is imported lazily
    """Returns a rich Console (imported on first use)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """Prints a table: rich on a terminal, plain aligned columns otherwise."""
    if sys.stdout.isatty():
        from rich.table import Table

        t = Table(title=title, box=None, header_style="bold", pad_edge=False)
        for col in columns:
            t.add_column(col, overflow="fold")
        for row in rows:
            t.add_row(*row)
        console().print(t)
        return
    # Plain text keeps pipes (grep, awk) simple and avoids importing rich.
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    if title:
        click.echo(title)
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
