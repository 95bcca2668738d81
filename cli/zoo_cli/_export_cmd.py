"""``zoo export``: a cut model to ONNX, through :func:`zoo.exporter.export`."""

from __future__ import annotations

import click

from zoo._defaults import EXPORT_ATOL, EXPORT_OPSET, EXPORT_RTOL, EXPORTERS
from zoo_cli import _render
from zoo_cli._options import json_option, registries

__all__ = ["export_cmd"]


@click.command("export")
@click.argument("model_id")
@click.option(
    "--until",
    help="The stage to cut after (see 'zoo stages'), or several, comma-separated (one output each); "
    "default: the whole feature trunk.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The .onnx file (default: NAME-STAGE.onnx here).")
@click.option(
    "--head",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[HEAD.safetensors]",
    help="Alone: the whole model with its own classifier. With a file from 'zoo probe --save-head': the cut + pooling + "
    "that head + softmax as one classifier (class probabilities; labels in the metadata).",
)
@click.option("--vocab", type=click.IntRange(min=1), help="Word vectors: keep the N most frequent words.")
@click.option("--opset", type=int, default=EXPORT_OPSET, show_default=True)
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a fixed batch size.")
@click.option("--atol", type=float, default=EXPORT_ATOL, show_default=True, help="Parity: absolute tolerance.")
@click.option("--rtol", type=float, default=EXPORT_RTOL, show_default=True, help="Parity: relative tolerance.")
@click.option("--check/--no-check", default=True, help="Check ONNX Runtime against torch (default); --no-check is the explicit opt-out.")
@click.option("--exporter", type=click.Choice(EXPORTERS), default="auto", show_default=True)
@click.option("--no-cache", is_flag=True, help="Export again even if an identical export is cached.")
@click.option("--optimize", is_flag=True, help="Save ONNX Runtime's offline-optimized graph (float32, parity-checked).")
@click.option("--quantize", type=click.Choice(["int8"]), help="int8: dynamic for text encoders, static QDQ for image models; behind the accuracy gate.")
@click.option("--fp16", is_flag=True, help="Float16 weights and compute, float32 inputs and outputs; behind the accuracy gate.")
@click.option("--calibrate", metavar="DATA", help="An image folder or text file: half calibrates int8, half feeds the gate (default: generated inputs).")
@click.option("--text-field", help="--calibrate text files: the field holding the text (default: text).")
@click.option("--min-cosine", type=click.FloatRange(0, 1), help="Gate: lowest mean cosine of the features vs torch (default 0.99 int8, 0.9995 fp16).")
@click.option("--min-agreement", type=click.FloatRange(0, 1), help="Gate: lowest top-1 agreement for classifiers (default 0.99).")
@click.option("--offline", is_flag=True, default=None, help="Never use the network.")
@json_option
@click.pass_context
def export_cmd(
    ctx: click.Context,
    model_id: str,
    until: str | None,
    output: str | None,
    head: str | None,
    vocab: int | None,
    opset: int,
    batch: str,
    atol: float,
    rtol: float,
    check: bool,
    exporter: str,
    no_cache: bool,
    optimize: bool,
    quantize: str | None,
    fp16: bool,
    calibrate: str | None,
    text_field: str | None,
    min_cosine: float | None,
    min_agreement: float | None,
    offline: bool | None,
    as_json: bool,
) -> None:
    """Export a cut model to ONNX, checked against torch, with its provenance inside."""
    import zoo

    batch_value: str | int = "dynamic" if batch == "dynamic" else int(batch) if batch.isdigit() else batch
    stages: str | list[str] | None = [s.strip() for s in until.split(",")] if until and "," in until else until
    variant = dict(
        optimize=optimize, quantize=quantize, fp16=fp16, calibrate=calibrate, text_field=text_field,
        min_cosine=min_cosine, min_agreement=min_agreement,
    )
    if head:
        if not check:
            raise click.UsageError("a classifier export is always checked against torch + the head; drop --no-check")
        result = zoo.export_classifier(
            model_id, head, output, until=until, atol=atol, opset=opset, registries=registries(ctx), offline=offline, **variant
        )
    else:
        result = zoo.export(
            model_id, stages, output, head=head == "", vocab=vocab, opset=opset, batch=batch_value, atol=atol, rtol=rtol,
            check=check, exporter=exporter, use_cache=not no_cache, registries=registries(ctx), offline=offline, **variant,
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
    if "zoo.variant" in result.metadata:
        echo(f"  variant:  {result.metadata['zoo.variant']}")
    if result.gate is not None:
        echo(f"  gate:     {result.gate.summary()}: ok")
    echo(f"  time:     {result.seconds:.2f} s")
