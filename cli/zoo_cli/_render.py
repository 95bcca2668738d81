"""Human-readable rendering for the CLI.

Tables are drawn here, without rich: importing rich costs ~40 ms and drawing
a 50-row rich table ~75 ms more, while a whole cold ``zoo list`` has 100 ms.
On a terminal the header is bold and columns are cut to the terminal's width;
elsewhere (pipes, files) rows are plain text that ``grep``/``awk`` split
simply. rich is imported only for progress bars (:func:`console`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from zoo._units import human_count, human_size

__all__ = ["human_size", "human_count", "emit_json", "emit_json_line", "json_loads", "table", "console", "is_terminal"]


# json is imported when first used: a table never needs it, and it costs a cold `zoo list` 1.5 ms.


def emit_json(data: Any) -> None:
    """Writes one JSON document to stdout."""
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def emit_json_line(data: Any) -> None:
    """Writes one JSON document as one line (JSON lines)."""
    import json

    click.echo(json.dumps(data))


def json_loads(text: str) -> Any:
    """Parses JSON text."""
    import json

    return json.loads(text)


def console(stderr: bool = False):  # noqa: ANN201 - rich is imported lazily
    """Returns a rich Console (imported on first use)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def is_terminal() -> bool:
    """True when stdout is a terminal (tables are then paged to a screenful and fit its width)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _fit(widths: list[int], minimums: list[int], room: int) -> list[int]:
    """Narrows the widest columns, one character at a time, until the row fits in ``room``."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > room:
        i = max(range(len(widths)), key=lambda k: widths[k] - minimums[k])
        if widths[i] <= minimums[i]:
            break
        widths[i] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def table(columns: list[str], rows: list[list[str]], title: str | None = None, *, upper: bool = True) -> None:
    """Prints a table with a header row (upper-cased unless ``upper`` is False: ids); on a terminal the header is bold and cells fit its width."""
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    terminal = is_terminal()
    if terminal:
        try:
            room = int(os.environ.get("COLUMNS") or os.get_terminal_size(sys.stdout.fileno()).columns)
        except (OSError, ValueError):
            room = 80
        widths = _fit(widths, [min(len(c), w) for c, w in zip(columns, widths)], room)
        rows = [[_cut(cell, w) for cell, w in zip(row, widths)] for row in rows]
    header = "  ".join((c.upper() if upper else c).ljust(w) for c, w in zip(columns, widths)).rstrip()
    lines = [title] if title else []
    lines.append(click.style(header, bold=True) if terminal else header)
    lines.extend("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
    click.echo("\n".join(lines))
