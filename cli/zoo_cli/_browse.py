"""Browsing the registry: ``zoo list``, ``zoo search``, ``zoo info`` and ``zoo stages``.

Each command calls one :mod:`zoo` query and renders its answer as a table,
as text or as JSON; ``zoo info FILE.onnx`` reads the metadata ``zoo export``
wrote into the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import zoo
from zoo import errors
from zoo_cli import _render
from zoo_cli._options import filter_args, filter_options, json_option, registries

__all__ = ["info_cmd", "list_cmd", "search_cmd", "stages_cmd"]


def _metric_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _summary_rows(
    models: list[zoo.ModelSummary], *, with_score: bool = False, all_versions: bool = False, sort: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """Table columns and cells; a top-1 (an MTEB) column when any row has one, and the sorted-by metric's."""
    shown = [m for m in models if m.top1 is not None]
    mteb = [m for m in models if m.metric("mteb") is not None]
    extra = (sort or "").lstrip("+-").lower()
    extra = extra if extra and extra not in ("top1", "mteb", "name", "params", "size", "year") else ""
    columns = ["name", "version", "task", "modality", "params"]
    columns += ["top-1"] if shown else []
    columns += ["mteb"] if mteb else []
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
        if mteb:
            row.append(_metric_text(m.metric("mteb")))
        if extra:
            row.append(_metric_text(m.metric(extra)))
        # '+': some file has no published size (so the total is a lower bound); '-': none has one.
        # '≈': estimated from the parameter count (a snapshot, whose files are listed on first pull).
        size = _render.human_size(m.size) + ("" if m.size_known else "+") if m.size or m.size_known else "-"
        size = f"≈ {size}" if m.size_estimated and m.size else size
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


@click.command("list")
@filter_options
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool, **kwargs: Any) -> None:
    """List registered models (one row per model, its default version; --all-versions: every version).

    \b
    zoo list --sort -top1 --min-top1 80 --max-params 30M
    zoo list --source torchvision --task object-detection --json
    """
    query = filter_args(kwargs, as_json)
    models = zoo.list_models(**query, registries=registries(ctx))
    _emit_rows(models, as_json, "No models match these filters.", all_versions=query["all_versions"], sort=query["sort"])


@click.command("search")
@click.argument("query", nargs=-1)
@filter_options
@json_option
@click.pass_context
def search_cmd(ctx: click.Context, query: tuple[str, ...], as_json: bool, **kwargs: Any) -> None:
    """Search names, aliases, tags, architecture, versions and paper titles.

    Every word must match; the best matches come first (the exact name
    first; 'efficientnet b3' and 'EfficientNet-B3' find efficientnet_b3).
    Filters combine with the words; --sort replaces relevance as the order.
    """
    text = " ".join(query)
    args = filter_args(kwargs, as_json)
    models = zoo.search(text, **args, registries=registries(ctx))
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


def _metric_line(metric: zoo.registry.Metric) -> str:
    """``top1 = 81.24 on imagenet-1k @ 224 (source)``; hardware for throughput figures."""
    text = f"{metric.name} = {metric.value:g}"
    if metric.dataset:
        text += f" on {metric.dataset}"
    if metric.resolution:
        text += f" @ {metric.resolution}"
    if metric.hardware:
        text += f", {metric.hardware}"
    if metric.tasks:
        text += f", {metric.tasks} tasks"
    if metric.note:
        text += f"; {metric.note}"
    return f"{text} ({metric.source})"


def _size_text(m: zoo.ModelInfo) -> str:
    if m.size_estimated:
        if not m.size:
            return "unknown until the first pull lists the files (the publisher gives no parameter count)"
        return f"≈ {_render.human_size(m.size)} (estimated from the parameter count; the first pull lists the files)"
    unknown = sum(1 for f in m.files if not f.size)
    if not unknown:
        return f"{_render.human_size(m.size)} ({m.size:,} bytes in {len(m.files)} files)"
    if unknown == len(m.files):
        return f"unknown (the publisher gives no size; it is recorded on first pull) in {len(m.files)} files"
    return f"at least {_render.human_size(m.size)} ({unknown} of {len(m.files)} files have no published size)"


def _pin_text(f: zoo.registry.FileInfo) -> str:
    if f.pin is not None:
        algo, digest = f.pin
        if algo == "sha256":
            return digest[:16] + "…"
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
        ("paper", f"{m.paper.title} <{m.paper.url}>" if m.paper else "-"),
        ("aliases", ", ".join(m.aliases) or "-"),
        ("tags", ", ".join(dict.fromkeys(m.tags + m.version_tags)) or "-"),
        ("ids", ", ".join(m.ids) or "-"),
        ("adapter", f"{m.adapter} ({m.arch})"),
        ("license", m.license),
        ("verified", m.verification + _TIER_NOTES.get(m.verification.split(" ")[0], "")),
        ("source", m.source),
        ("params", f"{m.params:,}" if m.params else "-"),
        ("size", _size_text(m)),
        *([("snapshot", f"{m.snapshot.repo} at commit {m.snapshot.revision} (files listed on first pull)")] if m.snapshot else []),
        *([("embed dim", str(m.embed_dim))] if m.embed_dim else []),
        *([("requires", ", ".join(m.requires) + ": zoo lists this model but never runs its publisher's code")] if m.requires else []),
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
        echo("  input:        " + ", ".join(f"{k}={v}" for k, v in m.input.to_dict().items()))
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
            [[s.name, str(s.channels), str(s.stride)] for s in m.stages],
        )
    if m.snapshot is not None and not m.files:
        echo(f"files: listed on first pull from {m.snapshot.origin} (configs, tokenizer, safetensors; never pickles or code)")
        return
    echo("files:" + (f"  (as the first pull listed them at {m.snapshot.origin})" if m.snapshot is not None else ""))
    rows = []
    for f in m.files:
        rows.append([f.path, f"{f.size:,}" if f.size else "unknown", _pin_text(f), f.source.origin])
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


@click.command("info")
@click.argument("model_id")
@json_option
@click.pass_context
def info_cmd(ctx: click.Context, model_id: str, as_json: bool) -> None:
    """Show everything about a model version (name[@version]) or an exported .onnx file."""
    if model_id.endswith(".onnx") and Path(model_id).is_file():
        _onnx_info(model_id, as_json)
        return
    m = zoo.info(model_id, registries=registries(ctx))
    if m.snapshot is not None and not m.files:
        import dataclasses

        from zoo.resolve import known_files

        listed = known_files(m, zoo.Cache())  # what its first pull listed, if it was pulled here
        if listed:
            m = dataclasses.replace(m, files=listed, size=sum(f.size or 0 for f in listed))
    if as_json:
        _render.emit_json(m.to_dict())
        return
    _info_text(m)


@click.command("stages")
@click.argument("model_id")
@click.option("--all", "show_all", is_flag=True, help="Every measured cut point, not only the main stages.")
@click.option(
    "--params",
    "measure",
    is_flag=True,
    help="Build each cut (random weights, nothing downloaded) and report its exact output shape and parameter count.",
)
@json_option
@click.pass_context
def stages_cmd(ctx: click.Context, model_id: str, show_all: bool, measure: bool, as_json: bool) -> None:
    """List where a model can be cut: stage, channels, stride, output size (derived from the architecture)."""
    info = zoo.info(model_id, registries=registries(ctx))
    spec = info.input.to_dict() if info.input else {}
    rows = []
    for stage in zoo.stages(info.id, all=show_all, registries=registries(ctx)):
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

            out_shape, params = features.measure_stage(info.id, stage.name, registries=registries(ctx))
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
