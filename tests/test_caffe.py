"""zoo.caffe: real prototxt + caffemodel files (serialised with zoo's own proto), converted to
ONNX and run with ONNX Runtime, compared with hand-written torch modules holding the same weights,
and with zoo's independent TorchNet interpretation; bad files; the Model Zoo readme; registry
entries served over https and loaded through zoo.load."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from conftest import write_registry
from zoo import caffe, resolve
from zoo.errors import CaffeFormatError, ExportError, ParityError, StageNotFoundError

ATOL = 1e-4

# ---- helpers -------------------------------------------------------------------------------


def _blob(pb: Any, array: np.ndarray, *, legacy: bool, double: bool) -> Any:
    blob = pb.BlobProto()
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = (1,) * (4 - array.ndim) + array.shape
    else:
        blob.shape.dim.extend(array.shape)
    (blob.double_data if double else blob.data).extend(array.astype(np.float64 if double else np.float32).ravel().tolist())
    return blob


def caffemodel_bytes(weights: dict[str, list[np.ndarray]], *, v1: bool = False, legacy: bool = False, double: tuple = ()) -> bytes:
    """A caffemodel as Caffe writes it: a binary NetParameter whose layers carry blobs.

    A layer the prototxt does not have ("loss") is added: Caffe ignores it, so must zoo.
    """
    pb = caffe.proto()
    net = pb.NetParameter(name="test")
    for name, arrays in {**weights, "loss": [np.ones((3,), np.float32)]}.items():
        if v1:
            layer = net.layers.add(name=name, type=pb.V1LayerParameter.CONVOLUTION)
        else:
            layer = net.layer.add(name=name, type="Convolution")
        for j, array in enumerate(arrays):
            layer.blobs.append(_blob(pb, np.asarray(array), legacy=legacy, double=(name, j) in double))
    return net.SerializeToString()


def write_model(folder: Path, prototxt: str, weights: dict[str, list[np.ndarray]], **kwargs: Any) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deploy.prototxt").write_text(prototxt)
    (folder / "model.caffemodel").write_bytes(caffemodel_bytes(weights, **kwargs))
    return folder / "deploy.prototxt", folder / "model.caffemodel"


def ort_run(model: Any, *inputs: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), inputs)})[0]


def conv_blobs(conv: nn.Conv2d) -> list[np.ndarray]:
    return [conv.weight.detach().numpy()] + ([conv.bias.detach().numpy()] if conv.bias is not None else [])


def linear_blobs(fc: nn.Linear) -> list[np.ndarray]:
    return [fc.weight.detach().numpy(), fc.bias.detach().numpy()]


def check_cut(net: caffe.Net, expected: dict[str, torch.Tensor], x: torch.Tensor) -> None:
    """ORT on to_onnx and TorchNet both equal the hand-written module at every cut."""
    for until, want in expected.items():
        model = caffe.to_onnx(net, until=until)
        got = ort_run(model, x.numpy())
        assert got.shape == tuple(want.shape), until
        # The declared output shape (zoo's Caffe shape rules) and ONNX's own inference agree with reality.
        for graph in (model.graph, onnx.shape_inference.infer_shapes(model, strict_mode=True).graph):
            dims = [d.dim_value or None for d in graph.output[0].type.tensor_type.shape.dim]
            assert dims[1:] == list(got.shape[1:]), until
        np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=1e-4, err_msg=until)
        with torch.no_grad():
            ref = caffe.TorchNet(net, until)(x)
        np.testing.assert_allclose(ref.numpy(), want.numpy(), atol=ATOL, rtol=1e-4, err_msg=f"TorchNet {until}")


# ---- (a) AlexNet-like ----------------------------------------------------------------------

ALEXNET = """
name: "TinyAlexNet"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape: { dim: 10 dim: 3 dim: 39 dim: 43 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param {
    num_output: 16
    kernel_size: 5
    stride: 2
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 0 }
  }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer {
  name: "norm1"
  type: "LRN"
  bottom: "conv1"
  top: "norm1"
  lrn_param { local_size: 5 alpha: 0.01 beta: 0.75 }
}
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "norm1"
  top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 }
}
layer {
  name: "conv2"
  type: "Convolution"
  bottom: "pool1"
  top: "conv2"
  convolution_param {
    num_output: 16 group: 2 engine: CAFFE
    kernel_h: 2 kernel_w: 5 pad_h: 1 pad_w: 1 stride_h: 1 stride_w: 1
  }
}
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer {
  name: "pool2"
  type: "Pooling"
  bottom: "conv2"
  top: "pool2"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 }
}
layer { name: "fc6" type: "InnerProduct" bottom: "pool2" top: "fc6" inner_product_param { num_output: 32 } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "fc7" top: "prob" }
"""


class TinyAlex(nn.Module):
    """The same net written with plain torch modules: ceil-mode pools are Caffe's rule."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5, stride=2)
        self.norm1 = nn.LocalResponseNorm(5, alpha=0.01, beta=0.75, k=1.0)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(16, 16, (2, 5), padding=(1, 1), groups=2)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.fc6 = nn.Linear(16 * 5 * 4, 32)
        self.drop6 = nn.Dropout(0.5)
        self.fc7 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        out["conv1"] = x = torch.relu(self.conv1(x))
        out["norm1"] = x = self.norm1(x)
        out["pool1"] = x = self.pool1(x)
        out["conv2"] = x = torch.relu(self.conv2(x))
        out["pool2"] = x = self.pool2(x)
        out["fc6"] = x = self.drop6(torch.relu(self.fc6(x.flatten(1))))
        out["fc7"] = x = self.fc7(x)
        out["prob"] = torch.softmax(x, 1)
        return out

    def caffe_weights(self) -> dict[str, list[np.ndarray]]:
        return {
            "conv1": conv_blobs(self.conv1), "conv2": conv_blobs(self.conv2),
            "fc6": linear_blobs(self.fc6), "fc7": linear_blobs(self.fc7),
        }


@pytest.fixture(scope="module")
def alexnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyAlex, caffe.Net, Path]:
    torch.manual_seed(0)
    module = TinyAlex().eval()
    folder = tmp_path_factory.mktemp("alexnet")
    prototxt, model = write_model(folder, ALEXNET, module.caffe_weights())
    return module, caffe.load_net(prototxt, model), folder


def test_alexnet_like_matches_torch_at_every_cut(alexnet) -> None:  # noqa: ANN001
    module, net, _ = alexnet
    assert net.name == "TinyAlexNet" and net.inputs == {"data": [10, 3, 39, 43]}
    assert [layer.type for layer in net.layers][:4] == ["Convolution", "ReLU", "LRN", "Pooling"]
    x = torch.randn(2, 3, 39, 43)
    with torch.no_grad():
        expected = module(x)
    # pool1 is 9x10 and pool2 5x4 only with Caffe's ceil rounding (floor would give 8x9 and 4x3).
    assert expected["pool1"].shape[2:] == (9, 10) and expected["pool2"].shape[2:] == (5, 4)
    check_cut(net, expected, x)


def test_in_place_blobs_and_truncation(alexnet) -> None:  # noqa: ANN001
    module, net, _ = alexnet
    model = caffe.to_onnx(net, until="conv1")
    # Later layers are not emitted; conv1 is the value after its in-place ReLU.
    assert [n.op_type for n in model.graph.node] == ["Conv", "Relu"]
    assert [o.name for o in model.graph.output] == ["conv1"] and model.graph.input[0].name == "data"
    fc6 = caffe.to_onnx(net, until="fc6")
    assert [n.op_type for n in fc6.graph.node][-4:] == ["Flatten", "Gemm", "Relu", "Identity"]
    names = [o for n in fc6.graph.node for o in n.output]
    assert len(names) == len(set(names))  # each in-place write is its own tensor
    dims = fc6.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 32
    fixed = caffe.to_onnx(net, until="prob", batch=3)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    with pytest.raises(StageNotFoundError) as info:
        caffe.to_onnx(net, until="relu1")  # a layer name, not a top
    assert isinstance(info.value, KeyError) and "conv1, norm1, pool1, conv2" in str(info.value)


def test_stages_of_alexnet(alexnet) -> None:  # noqa: ANN001
    module, net, _ = alexnet
    stages = caffe.stages_of(net)
    assert [s["name"] for s in stages] == ["conv1", "norm1", "pool1", "conv2", "pool2", "fc6", "fc7", "prob"]
    by_name = {s["name"]: s for s in stages}
    assert by_name["conv1"] == {"name": "conv1", "channels": 16, "stride": 2}
    assert by_name["pool1"] == {"name": "pool1", "channels": 16, "stride": 4}
    assert by_name["pool2"] == {"name": "pool2", "channels": 16, "stride": 8}
    assert by_name["fc6"] == {"name": "fc6", "channels": 32, "stride": 39}  # 2-D: the whole input height
    with torch.no_grad():
        out = module(torch.zeros(1, 3, 39, 43))
    for s in stages:
        assert out[s["name"]].shape[1] == s["channels"]
    assert caffe.param_count(net) == sum(p.numel() for p in module.parameters())


# ---- (b) GoogLeNet-like --------------------------------------------------------------------


def conv_layer(name: str, bottom: str, n: int, k: int, pad: int = 0, stride: int = 1) -> str:
    return (
        f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"\n'
        f'  param {{ lr_mult: 1 decay_mult: 1 }} param {{ lr_mult: 2 decay_mult: 0 }}\n'
        f"  convolution_param {{ num_output: {n} pad: {pad} kernel_size: {k} stride: {stride}\n"
        f'    weight_filler {{ type: "xavier" std: 0.03 }} bias_filler {{ type: "constant" value: 0.2 }} }} }}\n'
        f'layer {{ name: "{name.rsplit("/", 1)[0]}/relu_{name.rsplit("/", 1)[-1]}" type: "ReLU" bottom: "{name}" top: "{name}" }}\n'
    )


def pool_layer(name: str, bottom: str, method: str, k: int, stride: int, pad: int = 0) -> str:
    return (
        f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" top: "{name}"\n'
        f"  pooling_param {{ pool: {method} kernel_size: {k} stride: {stride} pad: {pad} }} }}\n"
    )


def inception(prefix: str, bottom: str, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int) -> str:
    p = prefix
    return (
        conv_layer(f"{p}/1x1", bottom, c1, 1)
        + conv_layer(f"{p}/3x3_reduce", bottom, c3r, 1)
        + conv_layer(f"{p}/3x3", f"{p}/3x3_reduce", c3, 3, pad=1)
        + conv_layer(f"{p}/5x5_reduce", bottom, c5r, 1)
        + conv_layer(f"{p}/5x5", f"{p}/5x5_reduce", c5, 5, pad=2)
        + pool_layer(f"{p}/pool", bottom, "MAX", 3, 1, 1)
        + conv_layer(f"{p}/pool_proj", f"{p}/pool", cp, 1)
        + f'layer {{ name: "{p}/output" type: "Concat" bottom: "{p}/1x1" bottom: "{p}/3x3" '
        f'bottom: "{p}/5x5" bottom: "{p}/pool_proj" top: "{p}/output" }}\n'
    )


GOOGLENET = (
    'name: "TinyGoogLeNet"\n'
    'layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 10 dim: 3 dim: 31 dim: 31 } } }\n'
    + conv_layer("conv1/7x7_s2", "data", 8, 7, pad=3, stride=2)
    + pool_layer("pool1/3x3_s2", "conv1/7x7_s2", "MAX", 3, 2)
    + 'layer { name: "pool1/norm1" type: "LRN" bottom: "pool1/3x3_s2" top: "pool1/norm1" '
    "lrn_param { local_size: 5 alpha: 0.05 beta: 0.75 } }\n"
    + conv_layer("conv2/3x3_reduce", "pool1/norm1", 8, 1)
    + inception("inception_3a", "conv2/3x3_reduce", 4, 4, 6, 2, 3, 3)
    + pool_layer("pool3/3x3_s2", "inception_3a/output", "MAX", 3, 2)
    + pool_layer("pool4/ave", "inception_3a/output", "AVE", 3, 2, 1)
    + 'layer { name: "pool5/global" type: "Pooling" bottom: "pool4/ave" top: "pool5/global" '
    "pooling_param { pool: AVE global_pooling: true } }\n"
    + 'layer { name: "pool5/drop" type: "Dropout" bottom: "pool5/global" top: "pool5/global" '
    "dropout_param { dropout_ratio: 0.4 } }\n"
    + 'layer { name: "loss3/classifier" type: "InnerProduct" bottom: "pool5/global" top: "loss3/classifier" '
    "inner_product_param { num_output: 10 } }\n"
    + 'layer { name: "prob" type: "Softmax" bottom: "loss3/classifier" top: "prob" }\n'
)


class TinyGoogLeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict()
        for name, cin, cout, k, pad, stride in [
            ("conv1/7x7_s2", 3, 8, 7, 3, 2), ("conv2/3x3_reduce", 8, 8, 1, 0, 1),
            ("inception_3a/1x1", 8, 4, 1, 0, 1), ("inception_3a/3x3_reduce", 8, 4, 1, 0, 1),
            ("inception_3a/3x3", 4, 6, 3, 1, 1), ("inception_3a/5x5_reduce", 8, 2, 1, 0, 1),
            ("inception_3a/5x5", 2, 3, 5, 2, 1), ("inception_3a/pool_proj", 8, 3, 1, 0, 1),
        ]:
            self.convs[name.replace("/", ":")] = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
        self.classifier = nn.Linear(16, 10)

    def c(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.convs[name.replace("/", ":")](x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        x = self.c("conv1/7x7_s2", x)
        out["pool1/3x3_s2"] = x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        out["pool1/norm1"] = x = F.local_response_norm(x, 5, 0.05, 0.75, 1.0)
        x = self.c("conv2/3x3_reduce", x)
        b1 = self.c("inception_3a/1x1", x)
        out["inception_3a/3x3"] = b3 = self.c("inception_3a/3x3", self.c("inception_3a/3x3_reduce", x))
        b5 = self.c("inception_3a/5x5", self.c("inception_3a/5x5_reduce", x))
        bp = self.c("inception_3a/pool_proj", F.max_pool2d(x, 3, 1, 1))
        out["inception_3a/output"] = x = torch.cat([b1, b3, b5, bp], 1)
        out["pool3/3x3_s2"] = F.max_pool2d(x, 3, 2, ceil_mode=True)
        out["pool4/ave"] = x = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
        out["pool5/global"] = x = x.mean((2, 3), keepdim=True)
        out["prob"] = torch.softmax(self.classifier(x.flatten(1)), 1)
        return out

    def caffe_weights(self) -> dict[str, list[np.ndarray]]:
        weights = {name.replace(":", "/"): conv_blobs(conv) for name, conv in self.convs.items()}
        weights["loss3/classifier"] = linear_blobs(self.classifier)
        return weights


@pytest.fixture(scope="module")
def googlenet(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyGoogLeNet, caffe.Net, Path]:
    torch.manual_seed(1)
    module = TinyGoogLeNet().eval()
    folder = tmp_path_factory.mktemp("googlenet")
    prototxt, model = write_model(folder, GOOGLENET, module.caffe_weights())
    return module, caffe.load_net(prototxt, model), folder


def test_googlenet_like_matches_torch_at_every_cut(googlenet) -> None:  # noqa: ANN001
    module, net, _ = googlenet
    x = torch.randn(2, 3, 31, 31)
    with torch.no_grad():
        expected = module(x)
    # 16 -> 8 (floor: 7) and 8 -> 4 (floor: 3): the pools on odd spans need Caffe's rounding.
    assert expected["pool1/3x3_s2"].shape[2:] == (8, 8) and expected["pool3/3x3_s2"].shape[2:] == (4, 4)
    assert expected["pool4/ave"].shape[2:] == (5, 5)  # its last window is cut by the padded edge
    check_cut(net, expected, x)


def test_googlenet_cut_keeps_only_the_needed_branch(googlenet) -> None:  # noqa: ANN001
    _, net, _ = googlenet
    model = caffe.to_onnx(net, until="inception_3a/3x3")
    nodes = {n.name for n in model.graph.node}
    assert "inception_3a/3x3" in nodes and "inception_3a/5x5" not in nodes and "inception_3a/output" not in nodes
    assert caffe.to_onnx(net).graph.output[0].name == "prob"
    assert "pool3/3x3_s2" not in {n.name for n in caffe.to_onnx(net).graph.node}  # a side branch of prob


def full_googlenet() -> str:
    """BVLC GoogLeNet's deploy topology (layer names and widths of models/bvlc_googlenet/deploy.prototxt)."""
    text = (
        'name: "GoogleNet"\n'
        'layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 10 dim: 3 dim: 224 dim: 224 } } }\n'
        + conv_layer("conv1/7x7_s2", "data", 64, 7, pad=3, stride=2)
        + pool_layer("pool1/3x3_s2", "conv1/7x7_s2", "MAX", 3, 2)
        + 'layer { name: "pool1/norm1" type: "LRN" bottom: "pool1/3x3_s2" top: "pool1/norm1" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n'
        + conv_layer("conv2/3x3_reduce", "pool1/norm1", 64, 1)
        + conv_layer("conv2/3x3", "conv2/3x3_reduce", 192, 3, pad=1)
        + 'layer { name: "conv2/norm2" type: "LRN" bottom: "conv2/3x3" top: "conv2/norm2" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n'
        + pool_layer("pool2/3x3_s2", "conv2/norm2", "MAX", 3, 2)
    )
    bottom = "pool2/3x3_s2"
    for name, widths in [
        ("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)), ("pool3", None),
        ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)), ("4c", (128, 128, 256, 24, 64, 64)),
        ("4d", (112, 144, 288, 32, 64, 64)), ("4e", (256, 160, 320, 32, 128, 128)), ("pool4", None),
        ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128)),
    ]:
        if widths is None:
            text += pool_layer(f"{name}/3x3_s2", bottom, "MAX", 3, 2)
            bottom = f"{name}/3x3_s2"
        else:
            text += inception(f"inception_{name}", bottom, *widths)
            bottom = f"inception_{name}/output"
    return text + (
        pool_layer("pool5/7x7_s1", bottom, "AVE", 7, 1)
        + 'layer { name: "pool5/drop_7x7_s1" type: "Dropout" bottom: "pool5/7x7_s1" top: "pool5/7x7_s1" dropout_param { dropout_ratio: 0.4 } }\n'
        + 'layer { name: "loss3/classifier" type: "InnerProduct" bottom: "pool5/7x7_s1" top: "loss3/classifier" inner_product_param { num_output: 1000 } }\n'
        + 'layer { name: "prob" type: "Softmax" bottom: "loss3/classifier" top: "prob" }\n'
    )


def test_stages_of_the_full_googlenet_topology(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "deploy.prototxt").write_text(full_googlenet())
    net = caffe.load_net(tmp_path / "deploy.prototxt")  # no weights: shapes only
    stages = {s["name"]: (s["channels"], s["stride"]) for s in caffe.stages_of(net)}
    assert stages["conv1/7x7_s2"] == (64, 2)
    assert stages["pool1/3x3_s2"] == (64, 4) and stages["pool2/3x3_s2"] == (192, 8)
    assert stages["inception_3a/output"] == (256, 8) and stages["inception_3b/output"] == (480, 8)
    assert stages["inception_4e/output"] == (832, 16) and stages["inception_5b/output"] == (1024, 32)
    assert stages["pool5/7x7_s1"] == (1024, 224) and stages["prob"] == (1000, 224)
    assert caffe.param_count(net) == 6998552
    with pytest.raises(ExportError, match="no weights"):
        caffe.to_onnx(net, until="conv1/7x7_s2")


# ---- pooling: Caffe's output size and average divisor ----------------------------------------


@pytest.mark.parametrize(
    ("size", "k", "s", "p"),
    [
        ((8, 9), 3, 2, 0),  # ceil: 4x4 (floor would be 3x4)
        ((5, 6), 2, 2, 1),  # ceil gives 4, but the 4th window would start in the padding: 3
        ((8, 8), 3, 2, 1),  # the last window overflows the padded input: divisor 2x3, not 3x3
        ((7, 10), 3, 3, 1),
        ((6, 6), 2, 2, 0),  # exact: no rounding at all
    ],
)
@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_pooling_matches_caffe_rule(tmp_path, size, k, s, p, method) -> None:  # noqa: ANN001
    h, w = size
    text = (
        f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape: {{ dim: 1 dim: 2 dim: {h} dim: {w} }} }} }}\n'
        + pool_layer("pool", "data", method, k, s, p)
    )
    (tmp_path / "p.prototxt").write_text(text)
    net = caffe.load_net(tmp_path / "p.prototxt")

    def caffe_size(d: int) -> int:
        out = -(-(d + 2 * p - k) // s) + 1
        return out - 1 if p and (out - 1) * s >= d + p else out

    x = torch.randn(3, 2, h, w)
    if method == "MAX":
        want = F.max_pool2d(x, k, s, p, ceil_mode=True)
    else:
        want = F.avg_pool2d(x, k, s, p, ceil_mode=True, count_include_pad=True)
    assert want.shape[2:] == (caffe_size(h), caffe_size(w))
    model = caffe.to_onnx(net)
    got = ort_run(model, x.numpy())
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output[0]
    assert [d.dim_value for d in inferred.type.tensor_type.shape.dim][2:] == list(want.shape[2:])
    with torch.no_grad():
        np.testing.assert_allclose(caffe.TorchNet(net)(x).numpy(), want.numpy(), atol=1e-5)


# ---- legacy V1 layers and blob dims -------------------------------------------------------------

V1_NET = """
name: "LegacyNet"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 12
input_dim: 12
layers {
  name: "conv1"
  type: CONVOLUTION
  bottom: "data"
  top: "conv1"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  convolution_param { num_output: 4 kernel_size: 3 }
}
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.2 } }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layers { name: "drop" type: DROPOUT bottom: "pool1" top: "pool1" include { phase: TRAIN } }
layers { name: "fc" type: INNER_PRODUCT bottom: "pool1" top: "fc" inner_product_param { num_output: 5 } }
layers { name: "prob" type: SOFTMAX bottom: "fc" top: "prob" }
"""


def test_legacy_v1_layers_and_blob_dims(tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(2)
    conv, fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 5 * 5, 5)
    weights = {"conv1": conv_blobs(conv), "fc": linear_blobs(fc)}
    # Old Caffe wrote 4-D num/channels/height/width: bias (1,1,1,4), fc weights (1,1,5,100); one blob as doubles.
    prototxt, model = write_model(tmp_path, V1_NET, weights, v1=True, legacy=True, double=(("fc", 1),))
    net = caffe.load_net(prototxt, model)
    assert [layer.type for layer in net.layers] == ["Convolution", "ReLU", "Pooling", "InnerProduct", "Softmax"]
    assert net.inputs == {"data": [1, 3, 12, 12]}
    assert net.layers[0].blobs[1].shape == (4,) and net.layers[3].blobs[0].shape == (5, 100)
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        pool = F.max_pool2d(F.leaky_relu(conv(x), 0.2), 3, 2, ceil_mode=True)
        expected = {"conv1": F.leaky_relu(conv(x), 0.2), "pool1": pool, "prob": torch.softmax(fc(pool.flatten(1)), 1)}
    check_cut(net, expected, x)


# ---- convolution details, BatchNorm + Scale, Eltwise, Flatten/Reshape ------------------------------


def test_convolution_variants(tmp_path) -> None:  # noqa: ANN001
    text = """
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 13 dim: 11 } } }
    layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"
      convolution_param { num_output: 4 kernel_size: 3 dilation: 2 stride_h: 2 stride_w: 1 pad_h: 2 pad_w: 1 bias_term: false } }
    layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2"
      convolution_param { num_output: 6 kernel_size: 3 kernel_size: 1 pad: 1 pad: 0 stride: 1 stride: 2 group: 2 } }
    """
    torch.manual_seed(3)
    c1 = nn.Conv2d(3, 4, 3, stride=(2, 1), padding=(2, 1), dilation=2, bias=False)
    c2 = nn.Conv2d(4, 6, (3, 1), stride=(1, 2), padding=(1, 0), groups=2)
    prototxt, model = write_model(tmp_path, text, {"c1": conv_blobs(c1), "c2": conv_blobs(c2)})
    net = caffe.load_net(prototxt, model)
    x = torch.randn(2, 3, 13, 11)
    with torch.no_grad():
        check_cut(net, {"c1": c1(x), "c2": c2(c1(x))}, x)


def test_batchnorm_and_scale(tmp_path) -> None:  # noqa: ANN001
    text = """
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 dim: 5 dim: 5 } } }
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
    layer { name: "conv/bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { eps: 0.001 } }
    layer { name: "conv/scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
    layer { name: "bn0" type: "BatchNorm" bottom: "data" top: "bn0" }
    layer { name: "scaled" type: "Scale" bottom: "data" top: "scaled" }
    """
    rng = np.random.default_rng(4)
    torch.manual_seed(4)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    mean, var = rng.normal(0, 1, 6).astype(np.float32), rng.uniform(0.5, 2, 6).astype(np.float32)
    gamma, beta, gamma4 = (rng.normal(1, 0.3, n).astype(np.float32) for n in (6, 6, 4))
    factor = np.array([2.5], np.float32)  # Caffe stores mean and variance times this moving-average factor
    weights = {
        "conv": conv_blobs(conv),
        "conv/bn": [mean * factor, var * factor, factor],
        "conv/scale": [gamma, beta],
        "bn0": [np.ones(4, np.float32), np.ones(4, np.float32), np.zeros(1, np.float32)],  # factor 0: zero statistics
        "scaled": [gamma4],
    }
    prototxt, model = write_model(tmp_path, text, weights)
    net = caffe.load_net(prototxt, model)
    x = torch.randn(2, 4, 5, 5)
    t = torch.from_numpy
    with torch.no_grad():
        expected = {
            "conv": F.batch_norm(conv(x), t(mean), t(var), t(gamma), t(beta), eps=1e-3),
            "bn0": x / np.sqrt(1e-5),
            "scaled": x * t(gamma4).view(1, 4, 1, 1),
        }
    check_cut(net, expected, x)


def test_eltwise(tmp_path) -> None:  # noqa: ANN001
    text = """
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 6 dim: 6 } } }
    layer { name: "a" type: "Convolution" bottom: "data" top: "a" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
    layer { name: "b" type: "Convolution" bottom: "data" top: "b" convolution_param { num_output: 4 kernel_size: 1 } }
    layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" eltwise_param { operation: SUM coeff: 0.5 coeff: -2 } }
    layer { name: "sum3" type: "Eltwise" bottom: "a" bottom: "b" bottom: "sum" top: "sum3" }
    layer { name: "prod" type: "Eltwise" bottom: "a" bottom: "b" bottom: "a" top: "prod" eltwise_param { operation: PROD } }
    layer { name: "max" type: "Eltwise" bottom: "a" bottom: "b" top: "max" eltwise_param { operation: MAX } }
    """
    torch.manual_seed(5)
    a, b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 1)
    prototxt, model = write_model(tmp_path, text, {"a": conv_blobs(a), "b": conv_blobs(b)})
    net = caffe.load_net(prototxt, model)
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        ya, yb = a(x), b(x)
        s = 0.5 * ya - 2 * yb
        expected = {"sum": s, "sum3": ya + yb + s, "prod": ya * yb * ya, "max": torch.maximum(ya, yb)}
    check_cut(net, expected, x)


def test_flatten_reshape_softmax_axis_and_inner_product_axis(tmp_path) -> None:  # noqa: ANN001
    text = """
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 dim: 3 dim: 5 } } }
    layer { name: "flat" type: "Flatten" bottom: "data" top: "flat" }
    layer { name: "flat23" type: "Flatten" bottom: "data" top: "flat23" flatten_param { axis: 2 end_axis: -1 } }
    layer { name: "rs" type: "Reshape" bottom: "data" top: "rs" reshape_param { shape { dim: 0 dim: -1 dim: 5 } } }
    layer { name: "split_c" type: "Reshape" bottom: "data" top: "split_c" reshape_param { shape { dim: 2 dim: 2 } axis: 1 num_axes: 1 } }
    layer { name: "unsq" type: "Reshape" bottom: "data" top: "unsq" reshape_param { shape { dim: 1 } axis: 1 num_axes: 0 } }
    layer { name: "sm" type: "Softmax" bottom: "rs" top: "sm" softmax_param { axis: -1 } }
    layer { name: "ip2" type: "InnerProduct" bottom: "data" top: "ip2" inner_product_param { num_output: 7 axis: 2 } }
    layer { name: "cat2" type: "Concat" bottom: "data" bottom: "data" top: "cat2" concat_param { axis: -2 } }
    """
    torch.manual_seed(6)
    fc = nn.Linear(15, 7)
    prototxt, model = write_model(tmp_path, text, {"ip2": linear_blobs(fc)})
    net = caffe.load_net(prototxt, model)
    x = torch.randn(2, 4, 3, 5)
    with torch.no_grad():
        expected = {
            "flat": x.reshape(2, 60),
            "flat23": x.reshape(2, 4, 15),
            "rs": x.reshape(2, 12, 5),
            "split_c": x.reshape(2, 2, 2, 3, 5),
            "unsq": x.reshape(2, 1, 4, 3, 5),
            "sm": torch.softmax(x.reshape(2, 12, 5), -1),
            "ip2": fc(x.reshape(2, 4, 15)),
            "cat2": torch.cat([x, x], 2),
        }
    check_cut(net, expected, x)


def test_unsupported_layer_names_type_and_layer(tmp_path) -> None:  # noqa: ANN001
    text = """
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }
    layer { name: "my_py" type: "Python" bottom: "conv" top: "py" python_param { module: "m" layer: "L" } }
    layer { name: "relu" type: "ReLU" bottom: "py" top: "py" }
    """
    torch.manual_seed(7)
    conv = nn.Conv2d(3, 2, 3)
    prototxt, model = write_model(tmp_path, text, {"conv": conv_blobs(conv)})
    net = caffe.load_net(prototxt, model)
    assert net.layers[1].type == "Python" and net.layers[1].params is None
    for until in (None, "py"):
        with pytest.raises(ExportError) as info:
            caffe.to_onnx(net, until=until)
        message = str(info.value)
        assert "'Python'" in message and "'my_py'" in message and "--until" in message and "'conv'" in message
    with pytest.raises(ExportError, match="my_py"):
        caffe.TorchNet(net, "py")
    x = torch.randn(1, 3, 8, 8)
    np.testing.assert_allclose(ort_run(caffe.to_onnx(net, until="conv"), x.numpy()), conv(x).detach().numpy(), atol=ATOL)
    assert [s["name"] for s in caffe.stages_of(net)] == ["conv"]


# ---- bad input ----------------------------------------------------------------------------------

# The frontmatter of BVLC/caffe models/bvlc_googlenet/readme.md (../shared/checksums.md, section 4).
GOOGLENET_README = """---
name: BAIR/BVLC GoogleNet Model
caffemodel: bvlc_googlenet.caffemodel
caffemodel_url: http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel
license: unrestricted
sha1: 405fc5acd08a3bb12de8ee5e23a96bec22f08204
caffe_commit: bc614d1bd91896e3faceaf40b23b72dab47d44f5
---

This model is a replication of the model described in the [GoogleNet](http://arxiv.org/abs/1409.4842) publication.
"""


def test_read_frontmatter(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "readme.md").write_text(GOOGLENET_README)
    front = caffe.read_frontmatter(tmp_path)
    assert front == {
        "name": "BAIR/BVLC GoogleNet Model",
        "caffemodel": "bvlc_googlenet.caffemodel",
        "caffemodel_url": "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel",
        "license": "unrestricted",
        "sha1": "405fc5acd08a3bb12de8ee5e23a96bec22f08204",
        "caffe_commit": "bc614d1bd91896e3faceaf40b23b72dab47d44f5",
    }


@pytest.mark.parametrize(
    ("readme", "expected"),
    [
        (None, "no such readme.md"),
        ("# GoogLeNet\n\nNo frontmatter here.\n", "no YAML frontmatter"),
        (GOOGLENET_README.replace("sha1: 405fc5acd08a3bb12de8ee5e23a96bec22f08204\n", ""), "lacks sha1"),
        (GOOGLENET_README.replace("caffemodel: bvlc_googlenet.caffemodel\n", "").replace("sha1:", "other:"), "lacks caffemodel, sha1"),
        (GOOGLENET_README.replace("405fc5acd08a3bb12de8ee5e23a96bec22f08204", "405fc5"), "not 40 hex"),
        ("---\nname: [unclosed\n---\n", "not valid YAML"),
    ],
)
def test_broken_readmes(tmp_path, readme, expected) -> None:  # noqa: ANN001
    if readme is not None:
        (tmp_path / "readme.md").write_text(readme)
    with pytest.raises(CaffeFormatError, match=expected) as info:
        caffe.read_frontmatter(tmp_path)
    assert "readme.md" in str(info.value) and isinstance(info.value, ValueError)


def test_caffemodel_that_does_not_fit_the_prototxt(alexnet, tmp_path) -> None:  # noqa: ANN001
    module, _, _ = alexnet
    weights = module.caffe_weights()
    weights["conv2"] = [np.zeros((16, 16, 2, 5), np.float32), weights["conv2"][1]]  # group 2 needs (16, 8, 2, 5)
    prototxt, model = write_model(tmp_path, ALEXNET, weights)
    with pytest.raises(CaffeFormatError) as info:
        caffe.load_net(prototxt, model)
    message = str(info.value)
    assert "'conv2'" in message and "(16, 16, 2, 5)" in message and "(16, 8, 2, 5)" in message and "weights" in message

    weights = module.caffe_weights()
    weights["fc7"] = weights["fc7"][:1]  # the prototxt has bias_term (default true)
    prototxt, model = write_model(tmp_path / "b", ALEXNET, weights)
    with pytest.raises(CaffeFormatError, match=r"'fc7'.*1 blobs.*needs 2"):
        caffe.load_net(prototxt, model)

    weights = module.caffe_weights()
    del weights["fc6"]
    prototxt, model = write_model(tmp_path / "c", ALEXNET, weights)
    with pytest.raises(CaffeFormatError, match="no weights for layer 'fc6'"):
        caffe.load_net(prototxt, model)


def test_truncated_or_corrupt_caffemodel(alexnet, tmp_path) -> None:  # noqa: ANN001
    _, _, folder = alexnet
    data = (folder / "model.caffemodel").read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[: len(data) // 2])
    with pytest.raises(CaffeFormatError, match="truncated or corrupt") as info:
        caffe.load_net(folder / "deploy.prototxt", tmp_path / "cut.caffemodel")
    assert "cut.caffemodel" in str(info.value)
    (tmp_path / "text.caffemodel").write_bytes(ALEXNET.encode())
    with pytest.raises(CaffeFormatError, match="caffemodel"):
        caffe.load_net(folder / "deploy.prototxt", tmp_path / "text.caffemodel")
    (tmp_path / "bad.prototxt").write_text(ALEXNET.replace('top: "norm1"', 'top: "norm1" }', 1))
    with pytest.raises(CaffeFormatError, match="bad.prototxt"):
        caffe.load_net(tmp_path / "bad.prototxt")
    (tmp_path / "dangling.prototxt").write_text(ALEXNET.replace('bottom: "norm1"', 'bottom: "nrom1"'))
    with pytest.raises(CaffeFormatError, match="'nrom1'"):
        caffe.load_net(tmp_path / "dangling.prototxt")


def test_proto_matches_bvlc_field_numbers() -> None:
    pb = caffe.proto()
    fields = {f.name: (f.number, f.type) for f in pb.BlobProto.DESCRIPTOR.fields}
    assert fields["data"][0] == 5 and fields["double_data"][0] == 8 and fields["shape"][0] == 7
    assert pb.BlobProto.DESCRIPTOR.fields_by_name["data"].is_packed
    net = {f.name: f.number for f in pb.NetParameter.DESCRIPTOR.fields}
    assert net == {"name": 1, "input": 3, "input_shape": 8, "input_dim": 4, "layer": 100, "layers": 2}
    layer = {f.name: f.number for f in pb.LayerParameter.DESCRIPTOR.fields}
    assert layer["convolution_param"] == 106 and layer["pooling_param"] == 121 and layer["lrn_param"] == 118
    # A packed float written by hand (field 5, wire type 2) parses: what real Caffe writes.
    raw = bytes([0x2A, 8]) + np.array([1.5, -2.0], "<f4").tobytes()
    assert list(pb.BlobProto.FromString(raw).data) == [1.5, -2.0]


# ---- registry entries, end to end ------------------------------------------------------------------


def model_dir(tmp_path: Path, module: TinyGoogLeNet, url: str, caffemodel: str = "tiny_googlenet.caffemodel") -> tuple[Path, bytes]:
    folder = tmp_path / "tiny_googlenet"
    folder.mkdir()
    data = caffemodel_bytes(module.caffe_weights())
    (folder / "deploy.prototxt").write_text(GOOGLENET)
    (folder / caffemodel).write_bytes(data)
    sha1 = hashlib.sha1(data).hexdigest()
    (folder / "readme.md").write_text(
        f"---\nname: Tiny GoogLeNet\ncaffemodel: {caffemodel}\ncaffemodel_url: {url}\nlicense: unrestricted\n"
        f"sha1: {sha1}\ncaffe_commit: bc614d1bd91896e3faceaf40b23b72dab47d44f5\ngist_id: 034c6ac3865563b69e60\n---\n\nA test.\n"
    )
    return folder, data


PAPER = {"title": "Going Deeper with Convolutions", "url": "https://arxiv.org/abs/1409.4842", "year": 2014}


def test_registry_entry_validates(googlenet, tmp_path) -> None:  # noqa: ANN001
    module, net, _ = googlenet
    folder, _ = model_dir(tmp_path, module, "http://dl.example.org/tiny_googlenet.caffemodel")
    with pytest.raises(ValueError, match="paper"):
        caffe.registry_entry(folder, prototxt_url="https://example.org/deploy.prototxt")
    name, entry = caffe.registry_entry(folder, prototxt_url="https://example.org/deploy.prototxt", paper=PAPER)
    assert name == "tiny_googlenet"
    version = entry["versions"]["bvlc"]
    assert version["adapter"] == "caffe" and version["arch"] == "deploy.prototxt" and version["license"] == "unrestricted"
    assert version["stages"] == caffe.stages_of(net)
    assert version["input"]["shape"] == [3, 31, 31]
    assert version["input"]["mean"] == pytest.approx([123 / 255, 117 / 255, 104 / 255])
    proto_file, weights_file = version["files"]
    assert proto_file["size"] == len(GOOGLENET.encode()) and proto_file["sha256"] == hashlib.sha256(GOOGLENET.encode()).hexdigest()
    assert weights_file["source"] == {"url": "https://dl.example.org/tiny_googlenet.caffemodel"} and "size" not in weights_file
    description = version["description"]
    assert "bc614d1bd91896e3faceaf40b23b72dab47d44f5" in description and "034c6ac3865563b69e60" in description
    assert "http://dl.example.org/tiny_googlenet.caffemodel" in description and "BGR" in description
    reg = write_registry(tmp_path / "caffe.yaml", {name: entry})
    assert zoo.validate_registry([reg])["files_pinned"] == 2
    info = zoo.info(name, registries=[reg])
    assert info.paper.title == PAPER["title"] and info.params == caffe.param_count(net)
    # The three BVLC models need no paper argument.
    (folder / "readme.md").write_text((folder / "readme.md").read_text().replace("tiny_googlenet.caffemodel", "bvlc_alexnet.caffemodel"))
    _, alex = caffe.registry_entry(folder, prototxt_url="https://example.org/deploy.prototxt")
    assert alex["paper"]["year"] == 2012 and "ImageNet Classification" in alex["paper"]["title"]


def test_end_to_end_through_the_registry(googlenet, https_server, tmp_path) -> None:  # noqa: ANN001
    module, _, _ = googlenet
    # The readme gives plain http, as BVLC's do; the entry fetches it over https from the same host.
    folder, data = model_dir(tmp_path, module, f"http://127.0.0.1:{https_server.port}/w/tiny_googlenet.caffemodel")
    https_server.add("/w/tiny_googlenet.caffemodel", data)
    https_server.add("/w/deploy.prototxt", GOOGLENET.encode())
    name, entry = caffe.registry_entry(folder, prototxt_url=https_server.url("/w/deploy.prototxt"), paper=PAPER)
    reg = write_registry(tmp_path / "served.yaml", {name: entry})
    (row,) = [m for m in zoo.list_models(registries=[reg]) if m.name == name]
    assert row.verification == "weak (sha1)"

    # Without weights (shape checks), only the prototxt is fetched.
    shape_only = zoo.load(name, until="pool1/3x3_s2", pretrained=False, registries=[reg])
    assert shape_only(torch.zeros(1, 3, 31, 31)).shape == (1, 8, 8, 8)
    assert https_server.requests_for("/w/tiny_googlenet.caffemodel") == []

    image = torch.rand(2, 3, 31, 31) * 255 - 110
    with torch.no_grad():
        expected = module(image.flip(1))  # zoo feeds RGB; the Caffe net sees BGR
    for until in ("inception_3a/output", "pool4/ave", "prob"):
        cut = zoo.load(name, until=until, registries=[reg])
        assert cut.zoo_stage["name"] == until
        out = cut(image)
        assert isinstance(out, torch.Tensor)
        np.testing.assert_allclose(out.numpy(), expected[until].numpy(), atol=ATOL, rtol=1e-4)
    # The pulled files, read again: the torch reference at the same cut agrees with the served ONNX stage.
    folder_pulled = zoo.pull(name, registries=[reg])
    pulled = caffe.load_net(folder_pulled / "deploy.prototxt", folder_pulled / "tiny_googlenet.caffemodel")
    with torch.no_grad():
        ref = caffe.TorchNet(pulled, "inception_3a/3x3", rgb_input=True)(image)
    served = zoo.load(name, until="inception_3a/3x3", registries=[reg])(image)
    np.testing.assert_allclose(served.numpy(), ref.numpy(), atol=ATOL)
    np.testing.assert_allclose(ref.numpy(), expected["inception_3a/3x3"].numpy(), atol=ATOL, rtol=1e-4)

    # zoo.preprocess gives RGB 0-255 minus the mean in RGB order: BGR-minus-mean once reversed.
    pixel = np.full((40, 40, 3), (200, 100, 50), dtype=np.uint8)
    x = zoo.preprocess(name, registries=[reg])(pixel)
    np.testing.assert_allclose(x[:, 5, 5].numpy(), [200 - 123, 100 - 117, 50 - 104], atol=1e-3)

    lock = resolve.lock_models([name], registries=[reg])
    files = {f["path"]: f for f in lock["models"][f"{name}@bvlc"]["files"]}
    assert files["tiny_googlenet.caffemodel"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert files["tiny_googlenet.caffemodel"]["size"] == len(data)
    assert files["tiny_googlenet.caffemodel"]["hash"] == {"sha1": hashlib.sha1(data).hexdigest()}


def test_cli_import_caffe_then_export_with_parity(googlenet, https_server, tmp_path) -> None:  # noqa: ANN001
    """`zoo registry import-caffe` writes a valid entry; `zoo export` converts, checks parity, records provenance."""
    import json

    from conftest import run_zoo
    from zoo.exporter import read_metadata

    module, _, _ = googlenet
    folder, data = model_dir(tmp_path, module, f"http://127.0.0.1:{https_server.port}/w/tiny_googlenet.caffemodel")
    (folder / "readme.md").write_text((folder / "readme.md").read_text().replace("tiny_googlenet.caffemodel", "bvlc_googlenet.caffemodel"))
    (folder / "bvlc_googlenet.caffemodel").write_bytes(data)
    https_server.add("/w/bvlc_googlenet.caffemodel", data)
    https_server.add("/w/deploy.prototxt", GOOGLENET.encode())
    out = tmp_path / "reg" / "caffe.yaml"
    r = run_zoo("registry", "import-caffe", str(folder), "-o", str(out), "--prototxt-url", https_server.url("/w/deploy.prototxt"))
    assert r.returncode == 0, r.stderr
    assert "wrote tiny_googlenet" in r.stdout
    assert zoo.validate_registry([out])["models"] == 1
    # Importing again replaces the entry rather than duplicating it.
    assert run_zoo("registry", "import-caffe", str(folder), "-o", str(out), "--prototxt-url", https_server.url("/w/deploy.prototxt")).returncode == 0
    assert zoo.validate_registry([out])["models"] == 1
    onnx_file = tmp_path / "googlenet-3a.onnx"
    r = run_zoo("--registry", str(out), "export", "tiny_googlenet", "--until", "inception_3a/output", "-o", str(onnx_file), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["exporter"] == "caffe" and result["parity"]["ok"] and result["parity"]["cosine"] > 0.9999
    meta = read_metadata(onnx_file)
    assert meta["stage"] == "inception_3a/output"
    assert json.loads(meta["files"])["bvlc_googlenet.caffemodel"] == hashlib.sha256(data).hexdigest()
    image = (torch.rand(1, 3, 31, 31) * 255 - 110)
    with torch.no_grad():
        expected = module(image.flip(1))["inception_3a/output"]
    np.testing.assert_allclose(ort_run(__import__("onnx").load(str(onnx_file)), image.numpy()), expected.numpy(), atol=ATOL, rtol=1e-4)


def test_shipped_caffe_entries() -> None:
    for name, arch in [("bvlc_googlenet", "GoogLeNet (Inception v1)"), ("bvlc_alexnet", "AlexNet"), ("bvlc_reference_caffenet", "CaffeNet (AlexNet variant)")]:
        info = zoo.info(name)
        assert info.architecture == arch and info.adapter == "caffe" and info.verification == "weak (sha1)"
        proto_file = next(f for f in info.files if f.path == "deploy.prototxt")
        assert proto_file.source.url.startswith("https://raw.githubusercontent.com/BVLC/caffe/9b891540183ddc834a02b2bd81b31afae71b2153/")
    assert {s.name for s in zoo.info("bvlc_googlenet").stages} >= {"inception_4e/output", "pool5/7x7_s1"}


# ---- multi-output cuts ---------------------------------------------------------------------------


def ort_run_all(model: Any, *inputs: np.ndarray) -> dict[str, np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), inputs)})
    return dict(zip([o.name for o in sess.get_outputs()], outputs))


@pytest.mark.parametrize(
    ("fixture", "tops", "shape"),
    [
        ("alexnet", ["pool1", "conv1", "fc7"], (2, 3, 39, 43)),  # not in execution order: the order given
        ("googlenet", ["inception_3a/3x3", "pool1/3x3_s2", "prob"], (2, 3, 31, 31)),
        ("googlenet", ["pool4/ave", "pool3/3x3_s2"], (2, 3, 31, 31)),  # two side branches of one concat
    ],
)
def test_multi_output_cut_equals_single_cuts(fixture, tops, shape, request) -> None:  # noqa: ANN001
    _, net, _ = request.getfixturevalue(fixture)
    x = torch.randn(*shape)
    model = caffe.to_onnx(net, until=tops)
    assert [o.name for o in model.graph.output] == tops
    got = ort_run_all(model, x.numpy())
    with torch.no_grad():
        refs = caffe.TorchNet(net, tops)(x)
    assert isinstance(refs, tuple) and len(refs) == len(tops)
    for top, ref in zip(tops, refs):
        single = ort_run(caffe.to_onnx(net, until=top), x.numpy())
        np.testing.assert_array_equal(got[top], single, err_msg=top)
        with torch.no_grad():
            single_ref = caffe.TorchNet(net, top)(x)
        assert isinstance(single_ref, torch.Tensor)
        np.testing.assert_array_equal(ref.numpy(), single_ref.numpy(), err_msg=f"TorchNet {top}")
        np.testing.assert_allclose(got[top], ref.numpy(), atol=ATOL, rtol=1e-4, err_msg=f"ONNX vs TorchNet {top}")


def test_multi_output_cut_keeps_only_what_the_outputs_need(googlenet) -> None:  # noqa: ANN001
    _, net, _ = googlenet
    model = caffe.to_onnx(net, until=["inception_3a/3x3", "pool1/norm1"])
    nodes = {n.name for n in model.graph.node}
    assert {"inception_3a/3x3", "pool1/norm1", "inception_3a/3x3_reduce"} <= nodes
    assert not nodes & {"inception_3a/5x5", "inception_3a/1x1", "inception_3a/output", "prob"}
    # A one-element list is a multi-output cut of one: TorchNet still returns a tuple.
    with torch.no_grad():
        (only,) = caffe.TorchNet(net, ["pool1/norm1"])(torch.zeros(1, 3, 31, 31))
    assert only.shape == (1, 8, 8, 8)
    with pytest.raises(ValueError, match="empty"):
        caffe.to_onnx(net, until=[])
    with pytest.raises(ValueError, match="more than once"):
        caffe.TorchNet(net, ["prob", "prob"])
    with pytest.raises(StageNotFoundError):
        caffe.to_onnx(net, until=["prob", "pool5/drop"])  # a layer name, not a top


# ---- independence of the torch reference, and a parity check that can fail ------------------------

CEIL_POOL_NET = """
name: "CeilPools"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 16 dim: 15 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "maxpool" type: "Pooling" bottom: "conv" top: "maxpool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "avepool" type: "Pooling" bottom: "conv" top: "avepool" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
"""


def _torch_pad_off_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch reference pads one row/column too many before the input (and one more after)."""
    from zoo.caffe import layers

    right = layers.Pooling.torch_axis

    def wrong(*args: Any) -> tuple[int, int, int]:
        pooled, before, after = right(*args)
        return pooled, before + 1, after + 1

    monkeypatch.setattr(layers.Pooling, "torch_axis", staticmethod(wrong))


def _onnx_extra_pad_off_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ONNX emission's extra bottom/right padding (Caffe's ceil rounding) is one short."""
    import dataclasses

    from zoo.caffe import layers

    right = layers.Pooling.emit

    def wrong(self: Any, g: Any, step: Any, ins: list[str], outs: list[str]) -> None:
        extra = tuple(e - 1 if e else e for e in step.attrs["extra"])
        right(self, g, dataclasses.replace(step, attrs={**step.attrs, "extra": extra}), ins, outs)

    monkeypatch.setattr(layers.Pooling, "emit", wrong)


def _agree(a: np.ndarray, b: np.ndarray, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=0))


@pytest.mark.parametrize("bug", [_torch_pad_off_by_one, _onnx_extra_pad_off_by_one])
def test_parity_check_catches_an_off_by_one_in_one_pooling_path(tmp_path, bug) -> None:  # noqa: ANN001
    (tmp_path / "deploy.prototxt").write_text(CEIL_POOL_NET)
    net = caffe.random_weights(caffe.load_net(tmp_path / "deploy.prototxt"), seed=3)
    assert caffe.stage_shapes(net)["maxpool"] == (4, 8, 7)  # ceil mode: floor would give 7x7
    x = torch.randn(2, 3, 16, 15)

    def both(top: str) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            ref = caffe.TorchNet(net, top)(x).numpy()
        return ort_run(caffe.to_onnx(net, until=top), x.numpy()), ref

    for top in ("maxpool", "avepool"):
        assert _agree(*both(top)), top
    with pytest.MonkeyPatch.context() as patch:
        bug(patch)
        for top in ("maxpool", "avepool"):
            assert not _agree(*both(top)), f"{bug.__name__} went unnoticed at {top}"
    assert _agree(*both("maxpool"))


def test_torch_reference_never_runs_the_onnx_path(googlenet, monkeypatch) -> None:  # noqa: ANN001
    """TorchNet computes every layer without the plan, the shape rules or the ONNX emission."""
    from zoo.caffe import _layer_type, _net, _onnx, _plan, _stages

    module, net, _ = googlenet
    x = torch.randn(2, 3, 31, 31)
    with torch.no_grad():
        expected = module(x)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the torch reference used the ONNX path")

    for mod in (_plan, _net, _onnx, _stages):
        monkeypatch.setattr(mod, "plan_of", boom)
    for kind in _layer_type.registered():
        monkeypatch.setattr(type(kind), "infer", boom)
        monkeypatch.setattr(type(kind), "emit", boom)
    tops = ["pool1/3x3_s2", "inception_3a/output", "pool4/ave", "prob"]
    with torch.no_grad():
        outs = caffe.TorchNet(net, tops)(x)
    for top, out in zip(tops, outs):
        np.testing.assert_allclose(out.numpy(), expected[top].numpy(), atol=ATOL, rtol=1e-4, err_msg=top)


def test_export_fails_parity_with_an_off_by_one_in_the_reference(googlenet, https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    module, _, _ = googlenet
    folder, data = model_dir(tmp_path, module, f"http://127.0.0.1:{https_server.port}/w/tiny_googlenet.caffemodel")
    https_server.add("/w/tiny_googlenet.caffemodel", data)
    https_server.add("/w/deploy.prototxt", GOOGLENET.encode())
    name, entry = caffe.registry_entry(folder, prototxt_url=https_server.url("/w/deploy.prototxt"), paper=PAPER)
    reg = write_registry(tmp_path / "served.yaml", {name: entry})
    out = tmp_path / "out" / "pool1.onnx"
    with pytest.MonkeyPatch.context() as patch:
        _torch_pad_off_by_one(patch)
        with pytest.raises(ParityError, match="pool1/3x3_s2"):
            zoo.export(name, until="pool1/3x3_s2", output=out, registries=[reg])
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))
    assert not any((zoo_env / "exports").glob("*.onnx"))  # nor into the export cache
    result = zoo.export(name, until="pool1/3x3_s2", output=out, registries=[reg])
    assert out.is_file() and result.parity.ok


# ---- the layer-type contract --------------------------------------------------------------------


def test_a_new_layer_type_is_one_class(tmp_path) -> None:  # noqa: ANN001
    """A registered class is enough for the reader, the ONNX converter and the torch reference."""
    from zoo.caffe import _layer_type

    class AbsVal(_layer_type.LayerType):
        type = "AbsVal"

        def infer(self, layer, shapes):  # noqa: ANN001, ANN201
            return [shapes[0]], [], {}

        def emit(self, g, step, ins, outs) -> None:  # noqa: ANN001
            g.node("Abs", ins, outs, step.layer.name)

        def forward(self, layer, xs, blobs):  # noqa: ANN001, ANN201
            return [xs[0].abs()]

    text = CEIL_POOL_NET + 'layer { name: "abs" type: "AbsVal" bottom: "maxpool" top: "abs" }\n'
    (tmp_path / "deploy.prototxt").write_text(text)
    with pytest.raises(ExportError, match="'AbsVal'"):
        caffe.to_onnx(caffe.random_weights(caffe.load_net(tmp_path / "deploy.prototxt")), until="abs")
    _layer_type.register(AbsVal)
    try:
        with pytest.raises(ValueError, match="registered already"):
            _layer_type.register(AbsVal)
        net = caffe.random_weights(caffe.load_net(tmp_path / "deploy.prototxt"))
        x = torch.randn(1, 3, 16, 15)
        with torch.no_grad():
            ref, pool = caffe.TorchNet(net, ["abs", "maxpool"])(x)
        got = ort_run_all(caffe.to_onnx(net, until=["abs", "maxpool"]), x.numpy())
        np.testing.assert_allclose(got["abs"], ref.numpy(), atol=1e-5)
        np.testing.assert_allclose(ref.numpy(), pool.abs().numpy())
    finally:
        _layer_type._TYPES.pop("AbsVal", None)


def test_layer_classes_declare_their_proto(tmp_path) -> None:  # noqa: ANN001
    """Each parameter message comes from its layer class, with BVLC's numbers on both layer messages."""
    from zoo.caffe import layers

    pb = caffe.proto()
    layer_fields = pb.LayerParameter.DESCRIPTOR.fields_by_name
    v1_fields = pb.V1LayerParameter.DESCRIPTOR.fields_by_name
    assert layers.SUPPORTED_LAYERS[0] == "Input" and len(layers.SUPPORTED_LAYERS) == 14
    pool = pb.PoolingParameter.DESCRIPTOR.fields_by_name
    assert (pool["pool"].number, pool["round_mode"].number, pool["global_pooling"].number) == (1, 13, 12)
    assert layer_fields["pooling_param"].message_type.name == "PoolingParameter"
    assert (layer_fields["pooling_param"].number, v1_fields["pooling_param"].number) == (121, 19)
    assert "flatten_param" not in v1_fields and layer_fields["flatten_param"].number == 135
    assert pb.V1LayerParameter.LayerType.Value("POOLING") == 17 and pb.V1LayerParameter.LayerType.Value("TANH") == 23
    assert pb.BatchNormParameter().eps == pytest.approx(1e-5) and pb.LRNParameter().beta == 0.75
    assert pb.PoolingParameter().round_mode == pb.PoolingParameter.CEIL


def test_stage_shapes_of_the_full_googlenet_topology(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "deploy.prototxt").write_text(full_googlenet())
    net = caffe.load_net(tmp_path / "deploy.prototxt")
    shapes = caffe.stage_shapes(net)
    assert list(shapes) == [s["name"] for s in caffe.stages_of(net)]
    assert shapes["conv1/7x7_s2"] == (64, 112, 112) and shapes["pool1/3x3_s2"] == (64, 56, 56)
    assert shapes["inception_4e/output"] == (832, 14, 14) and shapes["pool5/7x7_s1"] == (1024, 1, 1)
    assert shapes["prob"] == (1000,)
