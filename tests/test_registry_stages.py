"""The registry cannot lie about stages or parameter counts.

For every version of every shipped model whose adapter builds a torch module
(timm, torchvision, transformers), the architecture is built with random
weights (``pretrained=False``: nothing is downloaded) and measured against what
the registry says:

* every stage: its output has the registry's channels, and (vision) spatial
  size ``input/stride`` (inception's valid padding makes maps up to 3 pixels
  smaller), measured on one uncut build;
* a few representative stages are also cut with ``zoo.features.load(until=...)``
  and run, so the real cutting path is measured, not only the full model;
* timm: the stage names are timm's ``feature_info`` modules, in order (the
  timm adapter cuts by position in that list);
* the registry's ``params`` equals the parameter count of the full model
  (``head=True``).

The per-version test is marked ``slow`` (it builds ViT-B and BERT-base); the tests
showing that the check catches a lying entry use resnet50 only and are not.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import torch
import yaml

import zoo
from conftest import SHIPPED, shipped_model, write_registry
from zoo.features import count_params, dummy_inputs, load
from zoo.registry import ModelInfo, load_catalog

TORCH_ADAPTERS = ("timm", "torchvision", "transformers")

# Stages the issue's examples name: always cut there when a version has them.
NAMED_IN_ISSUE = ("layer3", "Mixed_6e", "encoder.layer.2")

# Inception's valid (unpadded) convolutions and pools make maps a few pixels smaller than
# input/stride: at Conv2d_4a_3x3 (stride 4) 299 pixels give 71, not 74.75 (299 -> 149 -> 147
# -> pool 73 -> 71), so the slack is 4, not 3. Strides are powers of two, so a wrong stride
# still misses the band by far (stride 8 there would allow 33..38).
SPATIAL_SLACK = 4

# Versions whose registry facts are known to be wrong, with why; each is an xfail(strict=True),
# so fixing the entry forces removing it from here.
KNOWN_WRONG: dict[str, str] = {}


def _shipped_torch_versions() -> list[str]:
    """``name@version`` of every shipped torch-adapter version, read from the YAML files.

    Collection must not touch a ZOO_HOME (the per-test one does not exist yet), so the
    ids come from the files; ``test_parametrization_covers_the_catalog`` checks them
    against ``zoo.list_models()`` and the catalog.
    """
    ids = []
    for path in sorted(SHIPPED.glob("*.yaml")):
        for name, model in yaml.safe_load(path.read_text())["models"].items():
            for version, v in model["versions"].items():
                if v["adapter"] in TORCH_ADAPTERS:
                    ids.append(f"{name}@{version}")
    return sorted(ids)


VERSIONS = _shipped_torch_versions()


def _params() -> list[Any]:
    out = []
    for model_id in VERSIONS:
        marks = []
        if model_id in KNOWN_WRONG:
            marks.append(pytest.mark.xfail(reason=KNOWN_WRONG[model_id], raises=AssertionError, strict=True))
        out.append(pytest.param(model_id, id=model_id, marks=marks))
    return out


# ---- the checks ------------------------------------------------------------------


def check_stage_output(info: ModelInfo, stage: dict[str, Any], out: torch.Tensor, how: str) -> None:
    """Asserts one stage's output (batch 1) has the shape the registry promises."""
    where = f"{info.id} stage {stage['name']!r} ({how})"
    if info.modality == "vision":
        assert out.ndim == 4, f"{where}: expected an (N, C, H, W) map, got shape {tuple(out.shape)}"
        assert out.shape[1] == stage["channels"], (
            f"{where}: registry says {stage['channels']} channels, measured {out.shape[1]}"
        )
        for size, d in zip(info.input["shape"][1:], out.shape[2:]):
            low, high = size / stage["stride"] - SPATIAL_SLACK, math.ceil(size / stage["stride"])
            assert low <= d <= high, (
                f"{where}: input {size} at stride {stage['stride']} should give {low:g}..{high} pixels, "
                f"measured {d} (shape {tuple(out.shape)})"
            )
    else:
        seq_len = dummy_inputs(info)[0].shape[1]
        assert tuple(out.shape) == (1, seq_len, stage["channels"]), (
            f"{where}: expected (1, {seq_len}, {stage['channels']}), measured {tuple(out.shape)}"
        )


def _hooked_outputs(module: torch.nn.Module, names: list[str], inputs: tuple[Any, ...]) -> dict[str, torch.Tensor]:
    """Runs ``module`` once; returns what each named submodule output (each must run exactly once)."""
    seen: dict[str, list[Any]] = {n: [] for n in names}
    handles = [
        module.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: seen[n].append(o)) for n in names
    ]
    try:
        module(*inputs)
    finally:
        for h in handles:
            h.remove()
    for n, outs in seen.items():
        assert len(outs) == 1, f"submodule {n!r} ran {len(outs)} times in one forward pass; a stage must run once"
    return {n: outs[0] for n, outs in seen.items()}


_LAYER = re.compile(r"^(?P<prefix>.+)\.(?P<index>\d+)$")


def _all_stage_outputs(info: ModelInfo, full: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every registry stage's output, from one forward pass of the uncut model."""
    names = [s["name"] for s in info.stages]
    inputs = dummy_inputs(info)
    if info.adapter == "timm":
        maps = full.forward_intermediates(*inputs, intermediates_only=True)
        assert len(maps) == len(names), f"{info.id}: timm gives {len(maps)} feature maps, the registry lists {len(names)} stages"
        return dict(zip(names, maps))
    if info.adapter == "torchvision":
        return _hooked_outputs(full, names, inputs)
    # transformers: hidden_states[0] is the embeddings' output, hidden_states[k] layer k-1's.
    encoder = full.model
    ids, mask = inputs
    hidden = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    outs = {}
    for name in names:
        encoder.get_submodule(name)  # the stage is a real module of the encoder
        if name == "embeddings":
            k = 0
        else:
            match = _LAYER.match(name)
            assert match is not None, f"{info.id}: text stage {name!r} is neither 'embeddings' nor '<layers>.<index>'"
            k = int(match["index"]) + 1
        assert k < len(hidden), f"{info.id}: stage {name!r} is layer {k}, the encoder has {len(hidden) - 1} layers"
        outs[name] = hidden[k]
    return outs


def representative_stages(info: ModelInfo) -> list[dict[str, Any]]:
    """Up to 4 stages to cut at: the first, a middle one, the last, and any the issue names."""
    stages = list(info.stages)
    if not stages:
        return []
    picked = [stages[0], stages[len(stages) // 2], stages[-1]] + [s for s in stages if s["name"] in NAMED_IN_ISSUE]
    unique = list({s["name"]: s for s in picked}.values())
    return unique[:4]


def check_version(model_id: str, registries: list[Any] | None = None) -> None:
    """Asserts that the registry's stages and params for ``model_id`` match the built architecture."""
    info = load_catalog(registries).info(model_id)
    assert info.stages, f"{info.id}: a {info.adapter} version must list its stages"
    with torch.no_grad():
        full = load(info.id, head=True, pretrained=False, registries=registries)

        # params: the whole model as head=True builds it. For timm and torchvision that is the
        # classifier. For transformers it is the AutoModel encoder *with its pooler* (the adapter
        # drops the pooler only from cut models, since it reads the last layer): the registry's
        # numbers are of that module, e.g. bert-base-uncased 109,482,240 = BertModel with pooler
        # (the pooler-less trunk that load(until=None) returns is 108,891,648).
        measured = count_params(full)
        assert measured == info.params, f"{info.id}: registry says {info.params} params, the full model has {measured}"

        if info.adapter == "timm":
            import timm

            with torch.device("meta"):  # the same architecture, without memory or random init
                reference = timm.create_model(info.arch, pretrained=False, **info.arch_args)
            timm_names = [i["module"] for i in reference.feature_info]
            names = [s["name"] for s in info.stages]
            assert names == timm_names, (
                f"{info.id}: registry stages {names} are not timm's feature_info modules {timm_names}; "
                "the timm adapter cuts by position in that list"
            )

        outputs = _all_stage_outputs(info, full)
        for stage in info.stages:
            check_stage_output(info, stage, outputs[stage["name"]], "uncut model")
        del full, outputs

        for stage in representative_stages(info):
            cut = load(info.id, until=stage["name"], pretrained=False, registries=registries)
            check_stage_output(info, stage, cut(*dummy_inputs(info)), f"load(until={stage['name']!r})")
            del cut


# ---- tests -----------------------------------------------------------------------


def test_parametrization_covers_the_catalog() -> None:
    catalog = load_catalog()
    expected = sorted(
        f"{m.name}@{version}"
        for m in zoo.list_models()
        for version, v in catalog.models[m.name]["versions"].items()
        if v["adapter"] in TORCH_ADAPTERS
    )
    assert VERSIONS == expected
    assert len(VERSIONS) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("model_id", _params())
def test_registry_stages_and_params_match_the_architecture(model_id: str) -> None:
    check_version(model_id)


def _lying_registry(tmp_path: Any, mutate: Any) -> list[Any]:
    entry = shipped_model("resnet50") | {"aliases": []}
    entry["versions"] = {"a1_in1k": entry["versions"]["a1_in1k"]}
    entry["default"] = "a1_in1k"
    mutate(entry["versions"]["a1_in1k"])
    return [write_registry(tmp_path / "lying.yaml", {"lying-resnet50": entry})]


def _set_stage(index: int, **values: Any) -> Any:
    def mutate(version: dict[str, Any]) -> None:
        version["stages"][index].update(values)

    return mutate


def _swap_stages(version: dict[str, Any]) -> None:
    version["stages"][1], version["stages"][2] = version["stages"][2], version["stages"][1]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (_set_stage(3, channels=1000), "registry says 1000 channels, measured 1024"),  # layer3 is 1024
        (_set_stage(3, stride=8), "at stride 8 should give"),
        (_swap_stages, "are not timm's feature_info modules"),
        (lambda v: v.update(params=v["params"] + 1), "params, the full model has 25557032"),
    ],
    ids=["channels", "stride", "order", "params"],
)
def test_the_check_catches_a_lying_registry(tmp_path, mutate, message) -> None:  # noqa: ANN001
    registries = _lying_registry(tmp_path, mutate)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_version("lying-resnet50", registries)


def test_the_check_passes_an_honest_copy(tmp_path) -> None:  # noqa: ANN001
    """The same entry, unchanged and loaded the same way, passes: the failures above are the lies."""
    check_version("lying-resnet50", _lying_registry(tmp_path, lambda version: None))
