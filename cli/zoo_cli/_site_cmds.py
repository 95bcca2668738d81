"""``zoo catalog`` (the static catalogue site, :func:`zoo.build_site`) and ``zoo compare`` (:func:`zoo.compare`)."""

from __future__ import annotations

from typing import Any

import click

from zoo_cli import _render
from zoo_cli._options import json_option, progress_option, registries

__all__ = ["catalog_cmd", "compare_cmd"]


@click.command("catalog")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="The site folder (new, empty, or a site zoo wrote before).")
@click.option("--title", default="zoo model catalogue", show_default=True, help="The site's title.")
@click.option("--registry", "extra", multiple=True, type=click.Path(exists=True), help="A registry file or folder to add (repeatable; as zoo --registry).")
@click.option("--only", is_flag=True, help="Only the models of the --registry files, not the shipped registry's.")
@click.option("--derive-stages", is_flag=True, help="First derive every version's stages from its architecture (as 'zoo stages'; imports torch, minutes).")
@progress_option
@json_option
@click.pass_context
def catalog_cmd(
    ctx: click.Context, output: str, title: str, extra: tuple[str, ...], only: bool, derive_stages: bool,
    show_progress: bool | None, as_json: bool,
) -> None:
    """Write the registry as a static site: search, filters, a top-1 vs cost chart, a card per model.

    \b
    zoo catalog -o site/
    zoo catalog -o site/ --registry team.yaml --only --title "Our models"
    No network is needed to build or view it; serve the folder with any web
    server (nginx, S3 website hosting, GitHub Pages), or open index.html from disk.
    """
    import zoo
    from zoo_cli._progress import make_item_reporter

    reporter = make_item_reporter(as_json, show_progress, err=True)
    try:
        result = zoo.build_site(
            output, title=title, registries=[*registries(ctx), *extra], only=only, derive_stages=derive_stages, progress=reporter
        )
    finally:
        reporter.close()
    if as_json:
        _render.emit_json(result.to_dict())
        return
    click.echo(
        f"wrote {result.index} ({result.models} models, {result.versions} versions, {result.pages} files, "
        f"{_render.human_size(result.bytes)}) in {result.seconds:.2f} s; stages derived from the architecture "
        f"on {result.stages} versions"
    )
    for model_id, why in result.stages_failed:
        click.echo(f"  stages of {model_id} could not be derived: {why}", err=True)


def _cell(key: str, value: Any, estimated: bool = False) -> str:
    if value is None:
        return "-"
    if key in ("top1", "top5", "gmacs") or key.startswith("mteb"):
        return f"{value:.2f}"
    if key == "params":
        return _render.human_count(value)
    if key == "size":
        return ("≈ " if estimated else "") + _render.human_size(value)
    if key == "stages":
        layers = [s for s in value if s[0] != "embeddings"]
        if len(layers) > 4 and all(s[1:] == layers[0][1:] for s in layers):
            # A text encoder: every layer alike, so say how many rather than list them.
            first = layers[0][0].rsplit(".", 1)[0]
            embeddings = "embeddings + " if len(layers) < len(value) else ""
            return f"{embeddings}{len(layers)} x {first}.N ({layers[0][1]}/{layers[0][2]})"
        return ", ".join(f"{name} ({channels}/{stride})" for name, channels, stride in value)
    return str(value)


@click.command("compare")
@click.argument("model_ids", nargs=-1, required=True)
@json_option
@click.pass_context
def compare_cmd(ctx: click.Context, model_ids: tuple[str, ...], as_json: bool) -> None:
    """Show model versions side by side: metrics, params, GMACs, size, license, verification, stages.

    \b
    zoo compare resnet50 convnext_tiny efficientnet_b0
    zoo compare resnet50@tv_in1k resnet50@a1_in1k
    zoo compare bge-small-en-v1.5 all-minilm-l6-v2@hf_8b3219a e5-small-v2
    The best top-1/top-5/MTEB and the fewest params/GMACs/bytes are marked with *; text models get MTEB(eng, v2)
    rows (the mean over its 41 tasks, by task type, each type). Stages read name (channels/stride); '≈' marks a size
    estimated from the parameter count.
    """
    import zoo

    result = zoo.compare(list(model_ids), registries=registries(ctx))
    if as_json:
        _render.emit_json(result.to_dict())
        return
    rows = []
    for key, label, values in result.rows:
        best = result.best.get(key, ())
        estimated = result.estimated or (False,) * len(values)
        rows.append([label] + [_cell(key, v, estimated[i]) + (" *" if i in best else "") for i, v in enumerate(values)])
    _render.table([""] + list(result.ids), rows, upper=False)
