"""``zoo``: find, inspect and validate pretrained models.

The commands only parse arguments, call the :mod:`zoo` API and render the
result; every rule lives in the library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
    (errors.StageNotFoundError, 2),
    (errors.StageMismatchError, 2),
    (errors.ModelNotFoundError, 3),
    (errors.VersionNotFoundError, 3),
    (errors.NotCachedError, 3),
    (errors.ChecksumMismatchError, 4),
    (errors.UnpinnedFileError, 4),
    (errors.DownloadError, 5),
    (errors.ExportError, 6),
    (errors.ZooError, 1),
]

_EPILOG = """\b
Exit codes: 0 ok, 1 other error, 2 bad input (id, stage, option) or invalid registry,
3 unknown model or version, 4 checksum mismatch or unpinned file, 5 download or offline
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


# Where a version's metadata comes from (--source); zoo.registry.SOURCES, spelled out so that help needs no import.
_SOURCES = ("timm", "torchvision", "onnx-zoo", "omz", "gensim", "curated")
# Rows a table shows on a terminal unless --limit or --all says otherwise.
_SCREENFUL = 50


def _filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--task", help="Only this task, e.g. image-classification."),
        click.option("--modality", type=click.Choice(["vision", "text"]), help="Only vision or text models."),
        click.option("--license", "license_", metavar="LICENSE", help="Only this license, e.g. apache-2.0."),
        click.option("--adapter", help="Only this framework adapter (timm, torchvision, transformers, ...)."),
        click.option("--tag", help="Only models with this tag."),
        click.option("--source", type=click.Choice(_SOURCES), help="Only versions from this publisher's metadata (curated: written by hand)."),
        click.option("--max-size", help="Only versions whose files total at most this, e.g. 100MB, 1.5GiB."),
        click.option("--max-params", help="Only versions with at most this many parameters, e.g. 30M, 1.5G, 500k."),
        click.option("--max-gmacs", type=float, help="Only versions with at most this many GMACs (published)."),
        click.option("--min-top1", type=float, help="Only versions with at least this top-1 accuracy in % (published)."),
        click.option(
            "--sort",
            metavar="KEY",
            help="Order by a metric (top1, top5, gmacs, box_map, ...), params, size, name or year; '-top1' for descending. "
            "Versions without it come last.",
        ),
        click.option("--all-versions", is_flag=True, help="One row per version instead of one per model."),
        click.option("--limit", type=click.IntRange(min=1), help=f"Show at most N rows (default: {_SCREENFUL} on a terminal, else all)."),
        click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N rows."),
        click.option("--all", "show_all", is_flag=True, help="Show every row, however many."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _query(kwargs: dict[str, Any], as_json: bool) -> dict[str, Any]:
    """The API's keyword arguments for list_models/search, from the shared options."""
    if kwargs["show_all"] and kwargs["limit"] is not None:
        raise click.UsageError("give --limit or --all, not both")
    limit = kwargs["limit"]
    if limit is None and not kwargs["show_all"] and not as_json and _render.is_terminal():
        limit = _SCREENFUL
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
        "sort": kwargs["sort"],
        "all_versions": kwargs["all_versions"],
        "limit": limit,
        "offset": kwargs["offset"],
    }


def _metric_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _summary_rows(
    models: list[zoo.ModelSummary], *, with_score: bool = False, all_versions: bool = False, sort: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """Table columns and cells; a top-1 column when any row has one, and the sorted-by metric's."""
    shown = [m for m in models if m.top1 is not None]
    extra = (sort or "").lstrip("+-").lower()
    extra = extra if extra and extra not in ("top1", "name", "params", "size", "year") else ""
    columns = ["name", "version", "task", "modality", "params"]
    columns += ["top-1"] if shown else []
    columns += [extra] if extra else []
    columns += ["size", "license", "verified"] + (["score"] if with_score else [])
    rows = []
    for m in models:
        if all_versions:
            version = f"{m.version} (default)" if m.version == m.default else m.version
        else:
            version = m.version if m.version == m.default else f"{m.version} (default: {m.default})"
        row = [m.name, version, m.task, m.modality, _render.human_count(m.params)]
        if shown:
            row.append(_metric_text(m.top1))
        if extra:
            row.append(_metric_text(m.metric(extra)))
        # '+': some file has no published size (so the total is a lower bound); '-': none has one.
        size = _render.human_size(m.size) + ("" if m.size_known else "+") if m.size or m.size_known else "-"
        row += [size, m.license, m.verification]
        if with_score:
            row.append(f"{m.score:g}")
        rows.append(row)
    return columns, rows


def _emit_rows(models: Any, as_json: bool, empty: str, **table: Any) -> None:
    """Prints a page of rows: JSON with count/total/offset, or a table and how many more there are."""
    if as_json:
        _render.emit_json(
            {"total": models.total, "count": len(models), "offset": models.offset, "rows": [m.to_dict() for m in models]}
        )
        return
    if not models:
        click.echo(empty if not models.total else f"No rows after --offset {models.offset} ({models.total} in all).")
        return
    _render.table(*_summary_rows(models, **table))
    if models.remaining:
        click.echo(f"{models.remaining} more (use --limit or --all)")


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
    """List registered models (one row per model, its default version; --all-versions: every version).

    \b
    zoo list --sort -top1 --min-top1 80 --max-params 30M
    zoo list --source torchvision --task object-detection --json
    """
    query = _query(kwargs, as_json)
    models = zoo.list_models(**query, registries=_registries(ctx))
    _emit_rows(models, as_json, "No models match these filters.", all_versions=query["all_versions"], sort=query["sort"])


@cli.command("search")
@click.argument("query", nargs=-1)
@_filter_options
@_json_option
@click.pass_context
def search_cmd(ctx: click.Context, query: tuple[str, ...], as_json: bool, **kwargs: Any) -> None:
    """Search names, aliases, tags, architecture, versions and paper titles.

    Every word must match; the best matches come first (the exact name
    first; 'efficientnet b3' and 'EfficientNet-B3' find efficientnet_b3).
    Filters combine with the words; --sort replaces relevance as the order.
    """
    text = " ".join(query)
    args = _query(kwargs, as_json)
    models = zoo.search(text, **args, registries=_registries(ctx))
    _emit_rows(
        models,
        as_json,
        f"No models match {text!r}. Try fewer words, or 'zoo list'.",
        with_score=True,
        all_versions=args["all_versions"],
        sort=args["sort"],
    )


# What each verification tier means, after its name in 'zoo info'.
_TIER_NOTES = {
    "sha384": "  (strong: the publisher's SHA-384 is checked, then the file's sha256 is recorded)",
    "prefix": "  (the sha256 prefix in the file name is checked on first pull, then the full sha256 is recorded)",
    "hub": "  (checked against the sha256 the Hugging Face Hub advertises on first pull, then commit + sha256 are recorded)",
    "weak": "  (legacy hash: checked on first pull, then its sha256 is recorded)",
}


def _metric_line(metric: dict[str, Any]) -> str:
    """``top1 = 81.24 on imagenet-1k @ 224 (source)``; hardware for throughput figures."""
    text = f"{metric['name']} = {metric['value']:g}"
    if metric.get("dataset"):
        text += f" on {metric['dataset']}"
    if metric.get("resolution"):
        text += f" @ {metric['resolution']}"
    if metric.get("hardware"):
        text += f", {metric['hardware']}"
    return f"{text} ({metric['source']})"


def _size_text(m: zoo.ModelInfo) -> str:
    unknown = sum(1 for f in m.files if not f.get("size"))
    if not unknown:
        return f"{_render.human_size(m.size)} ({m.size:,} bytes in {len(m.files)} files)"
    if unknown == len(m.files):
        return f"unknown (the publisher gives no size; it is recorded on first pull) in {len(m.files)} files"
    return f"at least {_render.human_size(m.size)} ({unknown} of {len(m.files)} files have no published size)"


def _pin_text(f: dict[str, Any]) -> str:
    if f.get("sha256"):
        return f["sha256"][:16] + "…"
    if f.get("hash"):
        algo, digest = next(iter(f["hash"].items()))
        if algo == "sha384":
            return f"sha384:{digest[:16]}…"
        if algo == "sha256_prefix":
            return f"sha256 prefix {digest}"
        return f"{algo}:{digest} (weak)"
    return "from the Hub, on first pull"


def _info_text(m: zoo.ModelInfo) -> None:
    echo = click.echo
    echo(f"{m.name}@{m.version}" + ("  (default)" if m.version == m.default else f"  (default: {m.default})"))
    fields = [
        ("task", m.task),
        ("modality", m.modality),
        ("architecture", m.architecture),
        ("paper", f"{m.paper['title']} <{m.paper['url']}>" if m.paper else "-"),
        ("aliases", ", ".join(m.aliases) or "-"),
        ("tags", ", ".join(m.tags) or "-"),
        ("ids", ", ".join(m.ids) or "-"),
        ("adapter", f"{m.adapter} ({m.arch})"),
        ("license", m.license),
        ("verified", m.verification + _TIER_NOTES.get(m.verification.split(" ")[0], "")),
        ("source", m.source),
        ("params", f"{m.params:,}" if m.params else "-"),
        ("size", _size_text(m)),
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
        echo(f"  metric:       {_metric_line(metric)}")
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
        if "pypi" in src:
            origin = f"pypi:{src['pypi']['package']}=={src['pypi']['version']}"
        elif "hf" in src:
            origin = f"hf:{src['hf']}@{src['revision'][:10]}" if src.get("revision") else f"hf:{src['hf']} (commit resolved on first pull)"
        else:
            origin = src["url"]
        rows.append([f["path"], f"{f['size']:,}" if f.get("size") else "unknown", _pin_text(f), origin])
    _render.table(["path", "bytes", "hash", "source"], rows)


def _onnx_info(path: str, as_json: bool) -> None:
    from zoo.exporter import read_metadata

    meta = read_metadata(path)
    if not meta:
        raise errors.ExportError(f"{path} carries no zoo metadata: it was not written by 'zoo export'")
    decoded: dict[str, Any] = {}
    for key, value in meta.items():
        try:
            decoded[key] = _render.json_loads(value) if value[:1] in "{[" else value
        except ValueError:
            decoded[key] = value
    if as_json:
        _render.emit_json({"file": path, **decoded})
        return
    click.echo(f"{path}: exported by zoo {decoded.get('zoo_version', '?')}")
    for key in ("model", "architecture", "license", "stage", "channels", "stride", "exporter", "opset", "batch"):
        if decoded.get(key):
            click.echo(f"  {key + ':':<14}{decoded[key]}")
    if isinstance(decoded.get("input"), dict):
        click.echo("  input:        " + ", ".join(f"{k}={v}" for k, v in decoded["input"].items()))
    parity = decoded.get("parity")
    if isinstance(parity, dict):
        click.echo(
            f"  parity:       max abs {parity['max_abs']:.3g}, max rel {parity['max_rel']:.3g}, "
            f"cosine {parity['cosine']:.7f} (atol {parity['atol']:g}, rtol {parity['rtol']:g}, {parity['inputs']} inputs)"
        )
    else:
        click.echo(f"  parity:       {parity}")
    for rel, sha in (decoded.get("files") or {}).items():
        click.echo(f"  source file:  {rel}  sha256 {sha}")


@cli.command("info")
@click.argument("model_id")
@_json_option
@click.pass_context
def info_cmd(ctx: click.Context, model_id: str, as_json: bool) -> None:
    """Show everything about a model version (name[@version]) or an exported .onnx file."""
    if model_id.endswith(".onnx") and Path(model_id).is_file():
        _onnx_info(model_id, as_json)
        return
    m = zoo.info(model_id, registries=_registries(ctx))
    if as_json:
        _render.emit_json(m.to_dict())
        return
    _info_text(m)


@cli.command("stages")
@click.argument("model_id")
@click.option("--all", "show_all", is_flag=True, help="Every measured cut point, not only the main stages.")
@click.option(
    "--params",
    "measure",
    is_flag=True,
    help="Build each cut (random weights, nothing downloaded) and report its exact output shape and parameter count.",
)
@_json_option
@click.pass_context
def stages_cmd(ctx: click.Context, model_id: str, show_all: bool, measure: bool, as_json: bool) -> None:
    """List where a model can be cut: stage, channels, stride, output size (derived from the architecture)."""
    info = zoo.info(model_id, registries=_registries(ctx))
    spec = info.input or {}
    rows = []
    for stage in zoo.stages(info.id, all=show_all, registries=_registries(ctx)):
        row: dict[str, Any] = {
            "name": stage.name,
            "channels": stage.channels,
            "stride": stage.stride,
            "output": list(stage.shape) if stage.shape is not None else None,
            "aliases": list(stage.aliases),
            "main": stage.main,
        }
        if measure:
            from zoo import features

            out_shape, params = features.measure_stage(info.id, stage.name, registries=_registries(ctx))
            row["output"] = out_shape[1:]
            row["params"] = params
        rows.append(row)
    if as_json:
        _render.emit_json({"model": info.id, "input": spec, "params": info.params, "stages": rows})
        return
    click.echo(f"{info.id}  input {spec.get('shape') or spec}")
    columns = ["stage", "channels", "stride", "output"] + (["params"] if measure else [])
    table_rows = []
    for row in rows:
        name = row["name"] + (f" ({', '.join(row['aliases'])})" if row["aliases"] else "")
        cells = [name, str(row["channels"]), str(row["stride"]), "x".join(map(str, row["output"])) if row["output"] else "-"]
        if measure:
            cells.append(_render.human_count(row["params"]) if row["params"] else "-")
        table_rows.append(cells)
    if measure:
        table_rows.append(["(whole model)", "", "", "", _render.human_count(info.params) if info.params else "-"])
    _render.table(columns, table_rows)


@cli.group("registry")
def registry_group() -> None:
    """Validate and maintain registry files."""


@registry_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--deep",
    is_flag=True,
    help="Also build every version's architecture (no weights) and check its stages: list against the derived stages.",
)
@_json_option
@click.pass_context
def validate_cmd(ctx: click.Context, paths: tuple[str, ...], deep: bool, as_json: bool) -> None:
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
    if deep:
        from zoo import features

        problems = features.check_registry_stages(list(paths))
        if problems:
            if as_json:
                _render.emit_json({"ok": False, "stages": problems})
            else:
                click.echo(f"{len(problems)} stage problem(s) found:", err=True)
                for problem in problems:
                    click.echo(f"  {problem['file']}: {problem['model']}: {problem['message']}", err=True)
            ctx.exit(2)
        counts["stages_checked"] = len(features.registry_versions(list(paths)))
    if as_json:
        _render.emit_json({"ok": True, **counts})
    else:
        click.echo(
            f"ok: {counts['files']} files, {counts['models']} models, "
            f"{counts['versions']} versions, {counts['files_pinned']} pinned files"
            + (f"; stages of {counts['stages_checked']} versions match their architectures" if deep else "")
        )


_GENERATE_SOURCES = ("timm", "torchvision", "onnx-zoo", "omz", "gensim")  # zoo.registry.generate.SOURCES


@registry_group.command("generate")
@click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Choice(_GENERATE_SOURCES),
    help="Read only this source (repeatable; default: all). Only its file is written.",
)
@click.option(
    "--manifests",
    type=click.Path(file_okay=False),
    help="Folder of upstream manifests (default: $ZOO_MANIFESTS, else ../shared/manifests beside the checkout).",
)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder to write, e.g. registry/generated.")
@_json_option
def registry_generate(sources: tuple[str, ...], manifests: str | None, output: str, as_json: bool) -> None:
    """Write registry files from upstream manifests and the installed timm/torchvision.

    One file per source (timm.yaml, torchvision.yaml, onnx-zoo.yaml, omz.yaml,
    gensim.yaml); the same inputs always give the same bytes. Prints what was
    written, by verification tier, and what was left out and why.
    """
    from zoo.registry import generate

    report = generate.generate(output, sources or generate.SOURCES, manifests=manifests)
    if as_json:
        _render.emit_json(report.to_dict())
        return
    for source, path in report.files.items():
        tiers = ", ".join(f"{n} {t}" for t, n in sorted(report.tiers[source].items()))
        click.echo(f"{source}: {report.versions[source]} versions of {report.models[source]} models ({tiers}) -> {path}")
        for reason, n in report.joined[source].most_common():
            click.echo(f"  joined {n}: {reason}")
        for reason, n in report.skipped[source].most_common():
            click.echo(f"  skipped {n}: {reason}")
    if report.shadowed:
        click.echo(f"ids not written ({len(report.shadowed)}), a hand-written name or alias means something else: {', '.join(report.shadowed)}")
    click.echo(f"total: {sum(report.versions.values())} versions of {sum(report.models.values())} models")


@registry_group.command("diff")
@click.argument("old", type=click.Path(exists=True))
@click.argument("new", type=click.Path(exists=True))
@_json_option
@click.pass_context
def registry_diff(ctx: click.Context, old: str, new: str, as_json: bool) -> None:
    """Show what changed between two registries (files or folders).

    Versions added and removed, files added and removed, changed sources and
    fields. A changed hash or size of an existing file is printed on a line
    starting with CHANGED HASH / CHANGED SIZE, and the exit code is 1.
    """
    from zoo.registry import generate

    result = generate.diff(old, new)
    if as_json:
        _render.emit_json(result.to_dict())
    else:
        for change in result.pin_changes:
            click.echo(change.line())
        for vid in result.added:
            click.echo(f"+ {vid}")
        for vid in result.removed:
            click.echo(f"- {vid}")
        for item in result.files_added:
            click.echo(f"+ file {item}")
        for item in result.files_removed:
            click.echo(f"- file {item}")
        for change in result.changes:
            if change not in result.pin_changes:
                click.echo(change.line())
        for vid, keys in result.fields.items():
            click.echo(f"~ {vid}: {', '.join(keys)}")
        click.echo(
            f"{len(result.added)} added, {len(result.removed)} removed, {len(result.fields)} changed versions; "
            f"{len(result.pin_changes)} changed hashes or sizes"
        )
    if result.pin_changes:
        ctx.exit(1)


def _progress_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--progress/--no-progress",
        "show_progress",
        default=None,
        help="Draw progress bars (default: only on a terminal).",
    )(func)


def _run_with_progress(as_json: bool, show: bool | None, work: Callable[[Any], Any]) -> Any:
    from zoo_cli._progress import make_reporter

    reporter = make_reporter(as_json, show)
    try:
        return work(reporter)
    finally:
        reporter.close()


@cli.command("pull")
@click.argument("model_ids", nargs=-1)
@click.option("--lock", "lock_file", type=click.Path(exists=True, dir_okay=False), help="Pull exactly what this lock file pins.")
@click.option("--offline", is_flag=True, default=None, help="Never use the network (also: ZOO_OFFLINE=1).")
@click.option(
    "--require-pinned",
    is_flag=True,
    default=None,
    help="Refuse files not pinned by sha256/sha384 in the registry or the lock, before downloading (also: ZOO_REQUIRE_PINNED=1).",
)
@_progress_option
@_json_option
@click.pass_context
def pull_cmd(
    ctx: click.Context,
    model_ids: tuple[str, ...],
    lock_file: str | None,
    offline: bool | None,
    require_pinned: bool | None,
    show_progress: bool | None,
    as_json: bool,
) -> None:
    """Download and verify every file of each model; print its local folder.

    MODEL_IDS are name[@version]. Files already in the cache are used as they
    are, without any network request.
    """
    from zoo import resolve

    if not model_ids and not lock_file:
        raise click.UsageError("give one or more model ids, or --lock FILE")

    def work(reporter: Any) -> list[Any]:
        results = []
        if model_ids:
            results += resolve.pull_many(
                list(model_ids), registries=_registries(ctx), progress=reporter, offline=offline, require_pinned=require_pinned
            )
        if lock_file:
            results += resolve.pull_lock(lock_file, progress=reporter, offline=offline, require_pinned=require_pinned)
        return results

    results = _run_with_progress(as_json, show_progress, work)
    _prepare_word_vectors(ctx, results)
    for result in results:
        if as_json:
            _render.emit_json_line(result.to_dict())
        else:
            click.echo(str(result.path))


def _prepare_word_vectors(ctx: click.Context, results: list[Any]) -> None:
    """Word-vector models are parsed once, right after the pull, into their safe cached form."""
    for result in results:
        try:
            info = zoo.info(result.model, registries=_registries(ctx))
        except (errors.ModelNotFoundError, errors.VersionNotFoundError):
            continue  # pulled from a lock file for a model this registry does not know
        if info.adapter == "word-vectors":
            from zoo import features

            features.load_vectors(result.model, registries=_registries(ctx))


@cli.command("verify")
@click.option("--jobs", type=click.IntRange(min=1), help="Files hashed at once (default: CPU count).")
@_json_option
@click.pass_context
def verify_cmd(ctx: click.Context, jobs: int | None, as_json: bool) -> None:
    """Re-hash every cached file; remove corrupt ones (exit 1 if any)."""
    from zoo import resolve

    report = resolve.verify(jobs=jobs)
    if as_json:
        _render.emit_json(
            {"ok": report.ok, "checked": report.checked, "bytes": report.bytes, "corrupt": [{"sha256": n, "actual": a} for n, a in report.corrupt]}
        )
    else:
        click.echo(f"checked {report.checked} files ({_render.human_size(report.bytes)})")
        for name, actual in report.corrupt:
            click.echo(f"corrupt: blob {name} hashes to {actual}; removed, the next pull fetches it again", err=True)
        if report.ok:
            click.echo("all files match their sha256")
    if not report.ok:
        ctx.exit(1)


@cli.group("cache")
def cache_group() -> None:
    """Inspect and clean the local cache ($ZOO_HOME)."""


@cache_group.command("ls")
@_json_option
def cache_ls(as_json: bool) -> None:
    """List cached model versions."""
    from zoo.cache import Cache

    versions = Cache().versions()
    if as_json:
        _render.emit_json(
            [
                {"model": f"{v.name}@{v.version}", "path": str(v.path), "files": len(v.files), "present": len(v.present), "size": v.size, "complete": v.complete}
                for v in versions
            ]
        )
        return
    if not versions:
        click.echo("The cache holds no models. Pull one with 'zoo pull NAME'.")
        return
    _render.table(
        ["model", "files", "size", "complete", "path"],
        [[f"{v.name}@{v.version}", f"{len(v.present)}/{len(v.files)}", _render.human_size(v.size), "yes" if v.complete else "no", str(v.path)] for v in versions],
    )


@cache_group.command("du")
@_json_option
def cache_du(as_json: bool) -> None:
    """Show how much disk the cache uses."""
    from zoo.cache import Cache

    cache = Cache()
    usage = cache.usage()
    if as_json:
        _render.emit_json({"root": str(cache.root), **usage})
        return
    click.echo(f"root:     {cache.root}")
    click.echo(f"blobs:    {usage['blobs']} files, {_render.human_size(usage['blob_bytes'])}")
    click.echo(f"partial:  {_render.human_size(usage['partial_bytes'])} (interrupted downloads, resumable)")
    click.echo(f"staging:  {_render.human_size(usage['staging_bytes'])}")
    click.echo(f"versions: {usage['versions']}")


@cache_group.command("rm")
@click.argument("model_id")
@_json_option
def cache_rm(model_id: str, as_json: bool) -> None:
    """Remove a model (or one version) and the files no other model uses."""
    from zoo.cache import Cache

    mid = zoo.parse_model_id(model_id)
    folders, freed = Cache().remove(mid.name, mid.version)
    if as_json:
        _render.emit_json({"removed": [str(f) for f in folders], "freed": freed})
    else:
        click.echo(f"removed {len(folders)} version(s), freed {_render.human_size(freed)}")


@cache_group.command("gc")
@_json_option
def cache_gc(as_json: bool) -> None:
    """Delete blobs no model references, partial downloads and staging files."""
    from zoo.cache import Cache

    removed, freed = Cache().gc()
    if as_json:
        _render.emit_json({"removed": removed, "freed": freed})
    else:
        click.echo(f"removed {len(removed)} file(s), freed {_render.human_size(freed)}")


@cache_group.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@_progress_option
@_json_option
@click.pass_context
def cache_import(ctx: click.Context, folder: str, show_progress: bool | None, as_json: bool) -> None:
    """Adopt local files whose size and sha256 match registry files."""
    from zoo import resolve

    report = _run_with_progress(False, show_progress if not as_json else False, lambda r: resolve.import_folder(folder, registries=_registries(ctx), progress=r))
    if as_json:
        _render.emit_json(report)
        return
    click.echo(f"adopted {len(report['adopted'])} file(s)")
    for model in report["complete"]:
        click.echo(f"complete: {model}")
    for model in report["partial"]:
        click.echo(f"partial:  {model} (other files still to pull)")


@cli.group("mirror")
def mirror_group() -> None:
    """Write mirrors that other machines can pull from (ZOO_MIRROR)."""


@mirror_group.command("create")
@click.argument("dest", type=click.Path(file_okay=False))
@click.argument("model_ids", nargs=-1, required=True)
@_progress_option
@_json_option
@click.pass_context
def mirror_create(ctx: click.Context, dest: str, model_ids: tuple[str, ...], show_progress: bool | None, as_json: bool) -> None:
    """Write DEST/sha256/<hex> for every file of the models, plus DEST/registry/."""
    from zoo import resolve

    report = _run_with_progress(
        False, show_progress if not as_json else False, lambda r: resolve.create_mirror(dest, list(model_ids), registries=_registries(ctx), progress=r)
    )
    if as_json:
        _render.emit_json(report)
    else:
        click.echo(f"mirror {report['path']}: {len(report['models'])} model(s), {report['files']} new file(s), {_render.human_size(report['bytes'])}")
        click.echo(f"use it with: ZOO_MIRROR={report['path']} ZOO_REGISTRY={report['path']}/registry zoo pull ...")


@cli.command("export")
@click.argument("model_id")
@click.option(
    "--until",
    help="The stage to cut after (see 'zoo stages'), or several, comma-separated (one output each); "
    "default: the whole feature trunk.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The .onnx file (default: NAME-STAGE.onnx here).")
@click.option("--head", is_flag=True, help="Export the whole model with its classifier.")
@click.option("--vocab", type=click.IntRange(min=1), help="Word vectors: keep the N most frequent words.")
@click.option("--opset", type=int, default=18, show_default=True)
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a fixed batch size.")
@click.option("--atol", type=float, default=1e-4, show_default=True, help="Parity: absolute tolerance.")
@click.option("--rtol", type=float, default=1e-3, show_default=True, help="Parity: relative tolerance.")
@click.option("--check/--no-check", default=True, help="Check ONNX Runtime against torch (default); --no-check is the explicit opt-out.")
@click.option("--exporter", type=click.Choice(["auto", "dynamo", "torchscript"]), default="auto", show_default=True)
@click.option("--no-cache", is_flag=True, help="Export again even if an identical export is cached.")
@click.option("--offline", is_flag=True, default=None, help="Never use the network.")
@_json_option
@click.pass_context
def export_cmd(
    ctx: click.Context,
    model_id: str,
    until: str | None,
    output: str | None,
    head: bool,
    vocab: int | None,
    opset: int,
    batch: str,
    atol: float,
    rtol: float,
    check: bool,
    exporter: str,
    no_cache: bool,
    offline: bool | None,
    as_json: bool,
) -> None:
    """Export a cut model to ONNX, checked against torch, with its provenance inside."""
    from zoo.exporter import export

    batch_value: str | int = "dynamic" if batch == "dynamic" else int(batch) if batch.isdigit() else batch
    stages: str | list[str] | None = [s.strip() for s in until.split(",")] if until and "," in until else until
    result = export(
        model_id, stages, output, head=head, vocab=vocab, opset=opset, batch=batch_value, atol=atol, rtol=rtol, check=check,
        exporter=exporter, use_cache=not no_cache, registries=_registries(ctx), offline=offline,
    )
    if as_json:
        _render.emit_json(result.to_dict())
        return
    echo = click.echo
    echo(f"wrote {result.path} ({_render.human_size(result.size)})" + ("  [from the export cache]" if result.cached else ""))
    echo(f"  model:    {result.model}  stage: {result.stage or '(whole model)'}")
    echo(f"  exporter: {result.exporter}  opset: {result.opset}")
    for name, dims in result.inputs.items():
        echo(f"  input:    {name} {dims}")
    for name, dims in result.outputs.items():
        echo(f"  output:   {name} {dims}")
    p = result.parity
    if p is None:
        echo("  parity:   not checked (--no-check)")
    else:
        echo(f"  parity:   max abs {p.max_abs:.3g}, max rel {p.max_rel:.3g}, cosine {p.cosine:.7f} over {p.inputs} inputs (atol {p.atol:g}, rtol {p.rtol:g}): ok")
    echo(f"  time:     {result.seconds:.2f} s")


# Where BVLC's deploy files are published, at the commit zoo pins them from.
_BVLC_RAW = "https://raw.githubusercontent.com/BVLC/caffe/9b891540183ddc834a02b2bd81b31afae71b2153/models"


@registry_group.command("import-caffe")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Registry file to write or add to.")
@click.option(
    "--prototxt-url",
    help=f"Where deploy.prototxt is published (https). Default: {_BVLC_RAW}/<folder name>/deploy.prototxt",
)
@click.option("--caffemodel-url", help="Override the readme's caffemodel_url.")
@click.option("--prototxt", "prototxt_name", default="deploy.prototxt", show_default=True)
@_json_option
def registry_import_caffe(
    model_dir: str, output: str, prototxt_url: str | None, caffemodel_url: str | None, prototxt_name: str, as_json: bool
) -> None:
    """Turn a Caffe Model Zoo folder (readme.md frontmatter + deploy.prototxt) into a registry entry."""
    from zoo import caffe

    folder = Path(model_dir)
    url = prototxt_url or f"{_BVLC_RAW}/{folder.resolve().name}/{prototxt_name}"
    name, entry = caffe.registry_entry(folder, prototxt_url=url, caffemodel_url=caffemodel_url, prototxt=prototxt_name)
    path = zoo.registry.add_entry(output, name, entry)
    if as_json:
        _render.emit_json({"file": str(path), "model": name, "entry": entry})
    else:
        click.echo(f"wrote {name} to {path} (weakly verified: sha1 from the readme; sha256 is recorded on first pull)")


@registry_group.command("lock")
@click.argument("model_ids", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the lock here (default: stdout).")
@click.pass_context
def registry_lock(ctx: click.Context, model_ids: tuple[str, ...], output: str | None) -> None:
    """Pin every file of the models (size, sha256, source) in a lock file."""
    from zoo import resolve

    doc = resolve.lock_models(list(model_ids), registries=_registries(ctx))
    if output:
        resolve.write_lock(doc, output)
        click.echo(f"wrote {output}: {len(doc['models'])} model(s)")
    else:
        _render.emit_json(doc)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="zoo")

