"""``zoo``: find, inspect and validate pretrained models.

The commands only parse arguments, call the :mod:`zoo` API and render the
result; every rule lives in the library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

import zoo
from zoo import errors
from zoo_cli import _render

__all__ = ["cli", "main", "EXIT_CODES"]

# Most specific first: the first class an error is an instance of wins.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.RegistryError, 2),
    (errors.InvalidModelIdError, 2),
    (errors.ModelNotFoundError, 3),
    (errors.VersionNotFoundError, 3),
    (errors.ChecksumMismatchError, 4),
    (errors.DownloadError, 5),
    (errors.ExportError, 6),
    (errors.ZooError, 1),
]

_EPILOG = """\b
Exit codes: 0 ok, 1 other error, 2 bad input or invalid registry,
3 unknown model or version, 4 checksum mismatch, 5 download or offline
error, 6 export or parity failure.
\b
Environment: ZOO_HOME (cache root), ZOO_REGISTRY (extra registries),
ZOO_OFFLINE, ZOO_MIRROR."""


def exit_code_for(exc: BaseException) -> int:
    """Returns the process exit code for a zoo error."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


class _ZooGroup(click.Group):
    """A group that turns zoo errors into one message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ZooError as exc:
            click.echo(f"zoo: error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))
        except ValueError as exc:
            # Bad option values the library rejects (e.g. an unreadable size).
            click.echo(f"zoo: error: {exc}", err=True)
            ctx.exit(2)


def _registries(ctx: click.Context) -> list[str]:
    return ctx.find_root().obj.get("registries", []) if ctx.find_root().obj else []


def _json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def _filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--task", help="Only this task, e.g. image-classification."),
        click.option("--modality", type=click.Choice(["vision", "text"]), help="Only vision or text models."),
        click.option("--license", "license_", metavar="LICENSE", help="Only this license, e.g. apache-2.0."),
        click.option("--adapter", help="Only this framework adapter (timm, torchvision, transformers, ...)."),
        click.option("--tag", help="Only models with this tag."),
        click.option("--max-size", help="Only versions whose files total at most this, e.g. 100MB, 1.5GiB."),
        click.option("--max-params", type=int, help="Only versions with at most this many parameters."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": kwargs["task"],
        "modality": kwargs["modality"],
        "license": kwargs["license_"],
        "adapter": kwargs["adapter"],
        "tag": kwargs["tag"],
        "max_size": kwargs["max_size"],
        "max_params": kwargs["max_params"],
    }


def _summary_rows(models: list[zoo.ModelSummary], with_score: bool = False) -> tuple[list[str], list[list[str]]]:
    columns = ["name", "version", "task", "modality", "params", "size", "license"]
    if with_score:
        columns.append("score")
    rows = []
    for m in models:
        version = m.version if m.version == m.default else f"{m.version} (default: {m.default})"
        row = [m.name, version, m.task, m.modality, _render.human_count(m.params), _render.human_size(m.size), m.license]
        if with_score:
            row.append(f"{m.score:g}")
        rows.append(row)
    return columns, rows


@click.group(cls=_ZooGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--registry",
    "registries",
    multiple=True,
    type=click.Path(exists=True, dir_okay=True),
    help="Extra registry file or folder, merged over the shipped one (repeatable).",
)
@click.version_option(zoo.__version__, prog_name="zoo")
@click.pass_context
def cli(ctx: click.Context, registries: tuple[str, ...]) -> None:
    """Find, pull, cut and export pretrained vision and language models."""
    ctx.obj = {"registries": list(registries)}


@cli.command("list")
@_filter_options
@_json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool, **kwargs: Any) -> None:
    """List registered models (one row per model, its default version)."""
    models = zoo.list_models(**_filters(kwargs), registries=_registries(ctx))
    if as_json:
        _render.emit_json([m.to_dict() for m in models])
        return
    if not models:
        click.echo("No models match these filters.")
        return
    _render.table(*_summary_rows(models))


@cli.command("search")
@click.argument("query", nargs=-1)
@_filter_options
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many results.")
@_json_option
@click.pass_context
def search_cmd(ctx: click.Context, query: tuple[str, ...], limit: int | None, as_json: bool, **kwargs: Any) -> None:
    """Search names, aliases, tags, architecture and paper titles.

    Every word must match; the best matches come first.
    """
    text = " ".join(query)
    models = zoo.search(text, **_filters(kwargs), limit=limit, registries=_registries(ctx))
    if as_json:
        _render.emit_json([m.to_dict() for m in models])
        return
    if not models:
        click.echo(f"No models match {text!r}. Try fewer words, or 'zoo list'.")
        return
    _render.table(*_summary_rows(models, with_score=True))


def _info_text(m: zoo.ModelInfo) -> None:
    echo = click.echo
    echo(f"{m.name}@{m.version}" + ("  (default)" if m.version == m.default else f"  (default: {m.default})"))
    fields = [
        ("task", m.task),
        ("modality", m.modality),
        ("architecture", m.architecture),
        ("paper", f"{m.paper['title']} <{m.paper['url']}>"),
        ("aliases", ", ".join(m.aliases) or "-"),
        ("tags", ", ".join(m.tags) or "-"),
        ("adapter", f"{m.adapter} ({m.arch})"),
        ("license", m.license),
        ("params", f"{m.params:,}" if m.params else "-"),
        ("size", f"{_render.human_size(m.size)} ({m.size:,} bytes in {len(m.files)} files)"),
        ("registry", m.registry_file),
    ]
    if m.description:
        fields.insert(3, ("description", m.description))
    if m.dataset:
        fields.append(("dataset", m.dataset))
    if m.version_description:
        fields.append(("weights", m.version_description))
    for key, value in fields:
        echo(f"  {key + ':':<14}{value}")
    if m.input:
        echo("  input:        " + ", ".join(f"{k}={v}" for k, v in m.input.items()))
    for metric in m.metrics:
        echo(f"  metric:       {metric['name']} = {metric['value']} ({metric['source']})")
    echo("versions:")
    for v in m.versions:
        marks = [mark for mark, on in (("default", v == m.default), ("shown", v == m.version)) if on]
        echo(f"  {v}" + (f"  ({', '.join(marks)})" if marks else ""))
    if m.stages:
        echo("stages:")
        _render.table(
            ["stage", "channels", "stride"],
            [[s["name"], str(s["channels"]), str(s["stride"])] for s in m.stages],
        )
    echo("files:")
    rows = []
    for f in m.files:
        src = f["source"]
        origin = f"hf:{src['hf']}@{src['revision'][:10]}" if "hf" in src else src["url"]
        rows.append([f["path"], f"{f['size']:,}", f["sha256"][:16] + "…", origin])
    _render.table(["path", "bytes", "sha256", "source"], rows)


@cli.command("info")
@click.argument("model_id")
@_json_option
@click.pass_context
def info_cmd(ctx: click.Context, model_id: str, as_json: bool) -> None:
    """Show everything about a model version: MODEL_ID is name[@version]."""
    m = zoo.info(model_id, registries=_registries(ctx))
    if as_json:
        _render.emit_json(m.to_dict())
        return
    _info_text(m)


@cli.group("registry")
def registry_group() -> None:
    """Validate and maintain registry files."""


@registry_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_json_option
@click.pass_context
def validate_cmd(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Validate registry YAML files or folders together.

    Exits 0 when they are valid, else 2 after listing every problem with its
    file and location.
    """
    try:
        counts = zoo.validate_registry(list(paths))
    except errors.RegistryError as exc:
        if as_json:
            _render.emit_json({"ok": False, "issues": [i.to_dict() for i in exc.issues]})
        else:
            click.echo(f"{len(exc.issues)} problem(s) found:", err=True)
            for issue in exc.issues:
                click.echo(f"  {issue}", err=True)
        ctx.exit(2)
    if as_json:
        _render.emit_json({"ok": True, **counts})
    else:
        click.echo(
            f"ok: {counts['files']} files, {counts['models']} models, "
            f"{counts['versions']} versions, {counts['files_pinned']} pinned files"
        )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="zoo")

