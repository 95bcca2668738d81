"""``zoo embed`` and ``zoo probe``: transfer learning, through :mod:`zoo.transfer`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from zoo_cli import _render
from zoo_cli._options import json_option, progress_option, registries

__all__ = ["embed_cmd", "probe_cmd"]

# zoo.transfer's choices, spelled out so that --help needs no import.
_POOLS = ("avg", "max", "mean", "cls", "none", "mean_sqrt_len", "weightedmean", "lasttoken")
_RUNTIMES = ("onnx", "torch")


def _dataset_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every transfer command shares: reading the data and running the model."""
    options = [
        click.option(
            "--pool", type=click.Choice(_POOLS),
            help="How a stage's output becomes one vector (default: a text model's own sentence-transformers pooling, else avg for images, mean for texts).",
        ),
        click.option("--runtime", type=click.Choice(_RUNTIMES), default="onnx", show_default=True, help="ONNX Runtime on the exported cut, or torch."),
        click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Inputs per forward pass."),
        click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads (default: the runtime's)."),
        click.option("--text-field", help="Text files: the field holding the text (default: text)."),
        click.option("--label-field", help="Text files: the field holding the label."),
        click.option("--id-field", help="Text files: the field holding a unique id (default: the row number)."),
        click.option("--offline", is_flag=True, default=None, help="Never use the network (also: ZOO_OFFLINE=1)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(as_json: bool, show: bool | None, work: Callable[[Any], Any], *, err: bool) -> Any:
    from zoo_cli._progress import make_item_reporter

    reporter = make_item_reporter(as_json, show, err=err)
    try:
        return work(reporter)
    finally:
        reporter.close()


@click.command("embed")
@click.argument("model_id")
@click.argument("source")
@click.option("-o", "--output", required=True, help="A .parquet or .npy file; with --engine ray also a folder or URL (s3://...).")
@click.option("--until", help="The stage to cut after (see 'zoo stages'; default: the whole feature trunk).")
@_dataset_options
@click.option("--prompt", help="Text models: one of the model's named prompts (query, passage...); default: its default prompt, if any.")
@click.option("--prompt-text", help="Text models: a prompt's text, prepended to every text (wins over --prompt).")
@click.option("--normalize/--no-normalize", default=None, help="L2-normalize the vectors (default: as the model's sentence-transformers modules say).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Run here, or on Ray Data.")
@click.option("--address", help="Ray: the cluster to join (auto, or ray://HOST:10001); default: a local one.")
@click.option("--workers", type=click.IntRange(min=1), help="Ray: actors, each with one model session.")
@click.option("--shard-size", type=click.IntRange(min=1), default=1024, show_default=True, help="Inputs per resumable shard.")
@progress_option
@json_option
@click.pass_context
def embed_cmd(ctx: click.Context, model_id: str, source: str, output: str, until: str | None, show_progress: bool | None, as_json: bool, **kwargs: Any) -> None:
    """Embed a dataset with a cut model: an image folder (root/<label>/*.jpg, or flat) or a .csv/.jsonl/.txt/.parquet of texts.

    Rerunning the same command after an interruption continues where it stopped.
    """
    import zoo

    result = _run(
        as_json, show_progress,
        lambda reporter: zoo.embed(model_id, source, output, until=until, registries=registries(ctx), progress=reporter, **kwargs),
        err=False,
    )
    if as_json:
        return  # the last JSON line ("done") is the result
    click.echo(f"wrote {result.rows:,} vectors of {result.dims} to {result.output}")
    click.echo(f"  model: {result.model}  stage: {result.stage}  pool: {result.pool}  runtime: {result.runtime}  engine: {result.engine}")
    if result.resumed:
        click.echo(f"  resumed: {result.resumed:,} inputs were done by an earlier run")
    if result.skipped:
        click.echo(f"  skipped: {len(result.skipped)} inputs (not readable):", err=True)
        for s in result.skipped[:20]:
            click.echo(f"    {s.id}: {s.reason}", err=True)
        if len(result.skipped) > 20:
            click.echo(f"    ... and {len(result.skipped) - 20} more (--json lists all)", err=True)
    click.echo(f"  time: {result.seconds:.1f} s")


@click.command("probe")
@click.argument("source")
@click.option("-m", "--model", "models", multiple=True, required=True, help="A model to probe (repeat for several).")
@click.option(
    "--stages", default="all", show_default=True,
    help="'all' (every main stage), 'last' (the whole trunk), or stage names, comma-separated.",
)
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="Stratified cross-validation folds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save-head", type=click.Path(dir_okay=False), help="Fit the best cut's probe on all the data and save it (.safetensors) for 'zoo export --head'.")
@_dataset_options
@progress_option
@json_option
@click.pass_context
def probe_cmd(
    ctx: click.Context, source: str, models: tuple[str, ...], stages: str, show_progress: bool | None, as_json: bool, **kwargs: Any
) -> None:
    """Find which model and stage separate a labelled dataset best, with a linear probe (standardize + logistic regression)."""
    import zoo

    which: str | list[str] = stages if stages in ("all", "last") else [s.strip() for s in stages.split(",")]
    result = _run(
        as_json, show_progress,
        lambda reporter: zoo.probe(source, list(models), stages=which, registries=registries(ctx), progress=reporter, **kwargs),
        err=True,
    )
    if as_json:
        _render.emit_json(result.to_dict())
        return
    rows = [
        [r["model"], r["stage"], str(r["dims"]), f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f}", f"{r['macro_f1']:.3f}",
         f"{r['fit_seconds']:.1f} s", "<- best" if r["best"] else ""]
        for r in result.table()
    ]
    _render.table(["MODEL", "STAGE", "DIMS", "ACCURACY", "MACRO-F1", "FIT", ""], rows)
    best = result.best
    click.echo(f"{len(result.labels)} classes, {best.n} examples, {best.folds} folds; best: {best.model} at {best.stage}")
    if result.head is not None:
        click.echo(f"head saved to {result.head}; export it with: zoo export {best.model} --until {best.stage} --head {result.head} -o classifier.onnx")
