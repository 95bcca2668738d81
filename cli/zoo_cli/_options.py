"""Options and helpers the commands share: --json, --progress, the list/search filters.

Only parsing lives here: turning options into the keyword arguments of the
:mod:`zoo` API. What the options mean is the library's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from zoo_cli import _render

__all__ = [
    "SCREENFUL",
    "SOURCES",
    "filter_args",
    "filter_options",
    "json_option",
    "progress_option",
    "registries",
    "run_with_progress",
]

# Where a version's metadata comes from (--source); zoo.registry.SOURCES, spelled out so that help needs no import.
SOURCES = ("timm", "torchvision", "onnx-zoo", "omz", "gensim", "mteb", "curated")
# Rows a table shows on a terminal unless --limit or --all says otherwise.
SCREENFUL = 50


def registries(ctx: click.Context) -> list[str]:
    """The extra registries given to the root command with --registry."""
    return ctx.find_root().obj.get("registries", []) if ctx.find_root().obj else []


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --json (as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def progress_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --progress/--no-progress (as ``show_progress``; None: only on a terminal)."""
    return click.option(
        "--progress/--no-progress",
        "show_progress",
        default=None,
        help="Draw progress bars (default: only on a terminal).",
    )(func)


def run_with_progress(as_json: bool, show: bool | None, work: Callable[[Any], Any]) -> Any:
    """Calls ``work(reporter)`` with a progress reporter, and closes the reporter after."""
    from zoo_cli._progress import make_reporter

    reporter = make_reporter(as_json, show)
    try:
        return work(reporter)
    finally:
        reporter.close()


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the filters, order and paging options of list and search."""
    options = [
        click.option("--task", help="Only this task, e.g. image-classification."),
        click.option("--modality", type=click.Choice(["vision", "text"]), help="Only vision or text models."),
        click.option("--license", "license_", metavar="LICENSE", help="Only this license, e.g. apache-2.0."),
        click.option("--adapter", help="Only this framework adapter (timm, torchvision, transformers, ...)."),
        click.option("--tag", help="Only models with this tag."),
        click.option("--source", type=click.Choice(SOURCES), help="Only versions from this publisher's metadata (curated: written by hand)."),
        click.option("--max-size", help="Only versions whose files total at most this, e.g. 100MB, 1.5GiB."),
        click.option("--max-params", help="Only versions with at most this many parameters, e.g. 30M, 1.5G, 500k."),
        click.option("--max-gmacs", type=float, help="Only versions with at most this many GMACs (published)."),
        click.option("--min-top1", type=float, help="Only versions with at least this top-1 accuracy in % (published)."),
        click.option("--min-mteb", type=float, help="Only text models with at least this MTEB(eng, v2) mean over its 41 tasks."),
        click.option(
            "--include-remote-code",
            is_flag=True,
            help="Also list models that need their publisher's Python code (zoo lists them but never loads them).",
        ),
        click.option(
            "--sort",
            metavar="KEY",
            help="Order by a metric (top1, top5, gmacs, mteb, mteb_retrieval, box_map, ...), params, size, name or year; '-top1' for descending. "
            "Versions without it come last.",
        ),
        click.option("--all-versions", is_flag=True, help="One row per version instead of one per model."),
        click.option("--limit", type=click.IntRange(min=1), help=f"Show at most N rows (default: {SCREENFUL} on a terminal, else all)."),
        click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N rows."),
        click.option("--all", "show_all", is_flag=True, help="Show every row, however many."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def filter_args(kwargs: dict[str, Any], as_json: bool) -> dict[str, Any]:
    """The API's keyword arguments for list_models/search, from the shared options."""
    if kwargs["show_all"] and kwargs["limit"] is not None:
        raise click.UsageError("give --limit or --all, not both")
    limit = kwargs["limit"]
    if limit is None and not kwargs["show_all"] and not as_json and _render.is_terminal():
        limit = SCREENFUL
    return {
        "task": kwargs["task"],
        "modality": kwargs["modality"],
        "license": kwargs["license_"],
        "adapter": kwargs["adapter"],
        "tag": kwargs["tag"],
        "source": kwargs["source"],
        "max_size": kwargs["max_size"],
        "max_params": kwargs["max_params"],
        "max_gmacs": kwargs["max_gmacs"],
        "min_top1": kwargs["min_top1"],
        "min_mteb": kwargs["min_mteb"],
        "include_remote_code": kwargs["include_remote_code"],
        "sort": kwargs["sort"],
        "all_versions": kwargs["all_versions"],
        "limit": limit,
        "offset": kwargs["offset"],
    }
