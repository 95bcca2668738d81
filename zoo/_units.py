"""Sizes and counts for people: ``102.5 MB``, ``25.6M`` (the CLI's tables, the catalogue site)."""

from __future__ import annotations

__all__ = ["human_size", "human_count"]


def human_size(n: int | None) -> str:
    """Formats bytes with decimal units, as download sizes are usually quoted; ``-`` for None."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - loop always returns


def human_count(n: int | None) -> str:
    """Formats a parameter count as 25.6M / 1.2B; ``-`` for None."""
    if n is None:
        return "-"
    for div, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)
