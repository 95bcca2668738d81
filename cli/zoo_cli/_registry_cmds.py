"""Maintaining registry files: ``zoo registry validate|generate|diff|import-caffe|import-folder|lock``."""

from __future__ import annotations

from pathlib import Path

import click

import zoo
from zoo import errors
from zoo_cli import _render
from zoo_cli._options import json_option, progress_option, registries

__all__ = ["registry_group"]


@click.group("registry")
def registry_group() -> None:
    """Validate and maintain registry files."""


@registry_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--deep",
    is_flag=True,
    help="Also build every version's architecture (no weights) and check its stages: list against the derived stages.",
)
@json_option
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


@registry_group.command("stages")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The table, e.g. registry/generated/stages.json.")
@progress_option
@json_option
@click.pass_context
def registry_stages(ctx: click.Context, output: str, show_progress: bool | None, as_json: bool) -> None:
    """Derive the main stages of every version (timm, torchvision) into the table the catalogue's cards read.

    Builds each architecture without weights, as 'zoo stages' does (imports torch; ~0.4 s a version).
    Architectures defined by files (ONNX, Caffe, transformers) are left out.
    """
    from zoo.registry import load_catalog
    from zoo.site._stage_table import write_table
    from zoo_cli._progress import make_item_reporter

    reporter = make_item_reporter(as_json, show_progress, err=True)
    try:
        report = write_table(output, load_catalog(registries(ctx)), progress=reporter)
    finally:
        reporter.close()
    if as_json:
        _render.emit_json(report)
        return
    click.echo(f"wrote {report['path']}: stages of {report['derived']} architectures; {report['skipped']} file-defined versions left out")
    for k, why in report["failed"].items():
        click.echo(f"  not derived: {k}: {why}", err=True)


_GENERATE_SOURCES = ("timm", "torchvision", "onnx-zoo", "omz", "gensim", "mteb")  # zoo.registry.generate.SOURCES


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
@json_option
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
@json_option
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
@json_option
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

    doc = resolve.lock_models(list(model_ids), registries=registries(ctx))
    if output:
        resolve.write_lock(doc, output)
        click.echo(f"wrote {output}: {len(doc['models'])} model(s)")
    else:
        _render.emit_json(doc)


@registry_group.command("import-folder")
@click.argument("path", type=click.Path(exists=True))
@click.option("--name", required=True, help="The model's registry name (lowercase: my-encoder).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Registry file to write or add to (default: print the YAML).")
@click.option("--version", "version_name", default="local", show_default=True, help="The version's name.")
@click.option("--description", help="Free text shown by 'zoo info'.")
@click.option("--license", "license_", help="The license (default: the model card's README.md frontmatter, else unknown).")
@click.option("--task", help="The task (default: from the layout: sentence-embedding, feature-extraction, image-classification).")
@click.option("--paper-url", help="The paper's https URL (with --paper-title).")
@click.option("--paper-title", help="The paper's title (with --paper-url).")
@click.option("--mean", help="ONNX image models: per-channel mean, comma-separated (0.485,0.456,0.406).")
@click.option("--std", help="ONNX image models: per-channel std, comma-separated.")
@json_option
def registry_import_folder(
    path: str, name: str, output: str | None, version_name: str, description: str | None, license_: str | None,
    task: str | None, paper_url: str | None, paper_title: str | None, mean: str | None, std: str | None, as_json: bool,
) -> None:
    """Turn a local model folder (Hugging Face, sentence-transformers, timm, or an ONNX file) into a registry entry.

    Every file is pinned by size and sha256 with no origin (source: {local: true});
    'zoo cache import DIR' then adopts the bytes. Pickled weights, Python files,
    remote code and links out of the folder are refused (exit 2).
    """
    imported = zoo.registry.import_folder(
        path, name=name, output=output, version=version_name, description=description, license=license_, task=task,
        paper_url=paper_url, paper_title=paper_title, mean=_floats(mean, "--mean"), std=_floats(std, "--std"),
    )
    if as_json:
        _render.emit_json(imported.to_dict())
        return
    if output is None:
        import yaml

        click.echo(yaml.safe_dump(imported.document(), sort_keys=False, allow_unicode=True), nl=False)
    else:
        files = imported.entry["versions"][imported.version]["files"]
        click.echo(
            f"wrote {imported.name}@{imported.version} ({imported.layout}, {len(files)} files pinned by sha256) to "
            f"{imported.output}; adopt the files with: zoo --registry {imported.output} cache import {imported.folder}"
        )
    for rel, why in imported.skipped:
        click.echo(f"skipped {rel}: {why}", err=True)
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give numbers separated by commas (0.485,0.456,0.406)", param_hint=option) from None
