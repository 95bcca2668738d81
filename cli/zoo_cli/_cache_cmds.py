"""The local cache: ``zoo pull``, ``zoo verify``, ``zoo cache ...`` and ``zoo mirror sync|create|verify``."""

from __future__ import annotations

from typing import Any

import click

import zoo
from zoo_cli import _render
from zoo_cli._options import (
    SOURCES,
    json_option,
    progress_option,
    registries,
    run_with_progress,
)

__all__ = ["cache_group", "mirror_group", "pull_cmd", "verify_cmd"]


@click.command("pull")
@click.argument("model_ids", nargs=-1)
@click.option("--lock", "lock_file", type=click.Path(exists=True, dir_okay=False), help="Pull exactly what this lock file pins.")
@click.option("--offline", is_flag=True, default=None, help="Never use the network (also: ZOO_OFFLINE=1).")
@click.option(
    "--require-pinned",
    is_flag=True,
    default=None,
    help="Refuse files not pinned by sha256/sha384 in the registry or the lock, before downloading (also: ZOO_REQUIRE_PINNED=1).",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 64),
    default=None,
    help="Parallel Range streams for each file of 64 MiB or more from an http(s) source (default 1; also: ZOO_CONNECTIONS).",
)
@progress_option
@json_option
@click.pass_context
def pull_cmd(
    ctx: click.Context,
    model_ids: tuple[str, ...],
    lock_file: str | None,
    offline: bool | None,
    require_pinned: bool | None,
    connections: int | None,
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
                list(model_ids), registries=registries(ctx), progress=reporter, offline=offline, require_pinned=require_pinned,
                connections=connections,
            )
        if lock_file:
            results += resolve.pull_lock(
                lock_file, progress=reporter, offline=offline, require_pinned=require_pinned, connections=connections
            )
        return results

    results = run_with_progress(as_json, show_progress, work)
    from zoo.features import finish_pulls

    finish_pulls(results, registries=registries(ctx))
    for result in results:
        if as_json:
            _render.emit_json_line(result.to_dict())
        else:
            click.echo(str(result.path))


@click.command("verify")
@click.option("--jobs", type=click.IntRange(min=1), help="Files hashed at once (default: CPU count).")
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, jobs: int | None, as_json: bool) -> None:
    """Re-hash every cached file; remove corrupt ones (exit 1 if any)."""
    from zoo import resolve

    report = resolve.verify(jobs=jobs)
    if as_json:
        _render.emit_json(
            {
                "ok": report.ok, "checked": report.checked, "bytes": report.bytes,
                "corrupt": [{"sha256": n, "actual": a} for n, a in report.corrupt],
                "broken": [{"file": f, "sha256": s} for f, s in report.broken],
            }
        )
    else:
        click.echo(f"checked {report.checked} files ({_render.human_size(report.bytes)})")
        for name, actual in report.corrupt:
            click.echo(f"corrupt: blob {name} hashes to {actual}; removed, the next pull fetches it again", err=True)
        for file, sha in report.broken:
            click.echo(f"broken: {file} does not lead to blob {sha[:12]}…; 'zoo pull' of its model links it again", err=True)
        if report.ok:
            click.echo("all files match their sha256")
    if not report.ok:
        ctx.exit(1)


@click.group("cache")
def cache_group() -> None:
    """Inspect and clean the local cache ($ZOO_HOME)."""


@cache_group.command("ls")
@json_option
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
@json_option
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
    click.echo(f"work:     {_render.human_size(usage['staging_bytes'])} (tmp/: running or interrupted work)")
    click.echo(f"derived:  {_render.human_size(usage['derived_bytes'])} (exports, sessions, vectors, embeds, stages; 'zoo cache gc --derived' drops them)")
    click.echo(f"versions: {usage['versions']}")
    others = {k: v for k, v in usage["areas"].items() if k not in ("blobs", "tmp")}
    if others:
        click.echo("areas:    " + ", ".join(f"{k} {_render.human_size(v)}" for k, v in others.items()))


@cache_group.command("rm")
@click.argument("model_id")
@json_option
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
@click.option("--derived", is_flag=True, help="Also drop derived files (exports, sessions, vectors, embeds, stages); they are rebuilt on demand.")
@json_option
def cache_gc(derived: bool, as_json: bool) -> None:
    """Delete blobs no model references, partial downloads and dead work files.

    Nothing a running zoo process holds is deleted: while another process uses
    the cache, only what provably belongs to nobody goes, and the rest is listed.
    """
    from zoo.cache import Cache

    report = Cache().gc(derived=derived)
    if as_json:
        _render.emit_json(report.to_dict())
        return
    click.echo(f"removed {len(report.removed)} item(s), freed {_render.human_size(report.freed)}")
    if report.kept:
        click.echo(f"kept {len(report.kept)} item(s) in use:")
        for path, why in report.kept[:20]:
            click.echo(f"  {path}: {why}")
        if len(report.kept) > 20:
            click.echo(f"  ... and {len(report.kept) - 20} more (--json lists all)")


@cache_group.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@progress_option
@json_option
@click.pass_context
def cache_import(ctx: click.Context, folder: str, show_progress: bool | None, as_json: bool) -> None:
    """Adopt local files whose size and sha256 match registry files."""
    from zoo import resolve

    report = run_with_progress(False, show_progress if not as_json else False, lambda r: resolve.import_folder(folder, registries=registries(ctx), progress=r))
    if as_json:
        _render.emit_json(report)
        return
    click.echo(f"adopted {len(report['adopted'])} file(s)")
    for model in report["complete"]:
        click.echo(f"complete: {model}")
    for model in report["partial"]:
        click.echo(f"partial:  {model} (other files still to pull)")
    for entry in report["refused"]:
        click.echo(f"refused:  {entry['file']} -> {entry['target']} (a {entry['reason']} out of the folder, not followed)")


@click.group("mirror")
def mirror_group() -> None:
    """Write mirrors that other machines can pull from (ZOO_MIRROR)."""


def _sync(ctx: click.Context, dest: str, model_ids: tuple[str, ...], show_progress: bool | None, as_json: bool, **options: Any) -> None:
    from zoo import mirror

    report = run_with_progress(
        False, show_progress if not as_json else False,
        lambda r: mirror.sync(dest, list(model_ids), registries=registries(ctx), progress=r, **options),
    )
    if as_json:
        _render.emit_json(report.to_dict())
        return
    click.echo(
        f"mirror {report.path}: {len(report.models)} model(s) synced, {report.files} new file(s) "
        f"({_render.human_size(report.bytes)}), {report.kept} already there; it holds {report.total_models} version(s), "
        f"{report.total_blobs} blob(s), {_render.human_size(report.total_bytes)}"
    )
    if report.path.startswith("s3://"):
        click.echo(f"use it with: ZOO_MIRROR={report.path} zoo pull ...  (the registry snapshot is under {report.path}/registry/)")
    else:
        click.echo(f"use it with: ZOO_MIRROR={report.path} ZOO_REGISTRY={report.path}/registry zoo pull ...  (or serve the folder over https)")


@mirror_group.command("sync")
@click.argument("dest")
@click.argument("model_ids", nargs=-1)
@click.option("--all", "all_models", is_flag=True, help="Every model of the registry (default versions), or of --source.")
@click.option("--source", type=click.Choice(SOURCES), help="With --all: only versions from this publisher's metadata.")
@click.option("--lock", type=click.Path(exists=True, dir_okay=False), help="Mirror exactly what this lock file pins.")
@progress_option
@json_option
@click.pass_context
def mirror_sync(
    ctx: click.Context, dest: str, model_ids: tuple[str, ...], all_models: bool, source: str | None, lock: str | None,
    show_progress: bool | None, as_json: bool,
) -> None:
    """Add models to a mirror: DEST/sha256/<hex>, DEST/registry/, DEST/index.json.

    DEST is a folder, or s3://bucket/prefix on S3-compatible storage (endpoint
    and credentials the usual AWS way: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY or AWS_PROFILE). Incremental: blobs already there are
    not copied again, models already there stay. Serve a folder with nginx (or
    any static server with Range) and point ZOO_MIRROR at it, or at the s3:// URL.
    """
    if source and not all_models:
        raise click.UsageError("--source selects models for --all; add --all")
    _sync(ctx, dest, model_ids, show_progress, as_json, all_models=all_models, source=source, lock=lock)


@mirror_group.command("create")
@click.argument("dest")
@click.argument("model_ids", nargs=-1, required=True)
@progress_option
@json_option
@click.pass_context
def mirror_create(ctx: click.Context, dest: str, model_ids: tuple[str, ...], show_progress: bool | None, as_json: bool) -> None:
    """Write DEST/sha256/<hex> for every file of the models, plus DEST/registry/ (the same as 'zoo mirror sync')."""
    _sync(ctx, dest, model_ids, show_progress, as_json)


@mirror_group.command("verify")
@click.argument("dest")
@json_option
def mirror_verify(dest: str, as_json: bool) -> None:
    """Re-hash every blob a mirror (a folder or s3://bucket/prefix) holds; list bad and missing ones (exit 1 if any). Nothing is changed."""
    from zoo import mirror

    check = mirror.verify_mirror(dest)
    if as_json:
        _render.emit_json(check.to_dict())
    else:
        click.echo(f"mirror {check.path}: {check.checked} blob(s), {_render.human_size(check.bytes)} re-hashed")
        for name, actual in check.bad:
            click.echo(f"bad:      sha256/{name} holds bytes whose sha256 is {actual}")
        for model, rel, digest in check.missing:
            click.echo(f"missing:  {model}: {rel} (sha256/{digest})")
        if check.unlisted:
            click.echo(f"unlisted: {len(check.unlisted)} blob(s) no mirrored version uses")
        click.echo("ok" if check.ok else "NOT ok: sync again from a good cache (zoo mirror sync), or remove the bad blobs")
    if not check.ok:
        raise click.exceptions.Exit(1)
