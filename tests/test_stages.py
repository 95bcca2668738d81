"""Stages come from the architecture, cuts are by name, several at once; one adapter contract.

For every adapter, a registry entry written by hand with *no* stages and one
with a *partial* (and reordered) list: zoo cuts at every derived stage and
must equal the framework's own feature extraction (timm ``features_only`` with
``out_indices``, torchvision ``create_feature_extractor``, transformers
``hidden_states``, ONNX Runtime on the whole graph, Caffe blobs computed by
the torch reference) within 1e-5 relative. Wrong names and lying stage lists
are clear errors; multi-output load and export; the derived-stage cache.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from conftest import REPO, file_entry, run_zoo, write_registry
from models import IMAGENET, SmallNet, serve, text_entry, tiny_bert, vision_entry
from zoo import features
from zoo.errors import StageMismatchError, StageNotFoundError
from zoo.exporter import read_metadata

RTOL = 1e-5


def close(actual: Any, expected: Any) -> bool:
    a = torch.as_tensor(np.asarray(actual))
    e = torch.as_tensor(np.asarray(expected))
    return a.shape == e.shape and torch.allclose(a, e, rtol=RTOL, atol=RTOL * float(e.abs().max()))


# ---- timm -----------------------------------------------------------------------------

TIMM_PARTIAL = [  # act1 left out, order shuffled: the cut must not depend on either
    {"name": "layer3", "channels": 256, "stride": 16},
    {"name": "layer1", "channels": 64, "stride": 4},
    {"name": "layer2", "channels": 128, "stride": 8},
    {"name": "layer4", "channels": 512, "stride": 32},
]


@pytest.fixture(scope="module")
def timm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False).eval()
    path = tmp_path_factory.mktemp("timm") / "model.safetensors"
    save_file(model.state_dict(), str(path))
    return path


def timm_features(path: Path, indices: list[int], x: torch.Tensor) -> list[torch.Tensor]:
    """timm's own extraction: the file loaded as pretrained weights, ``features_only`` with ``out_indices``."""
    import timm

    model = timm.create_model(
        "resnet18", pretrained=True, pretrained_cfg_overlay={"file": str(path)}, features_only=True, out_indices=indices
    ).eval()
    with torch.no_grad():
        return list(model(x))


@pytest.fixture
def timm_registries(timm_file, https_server, tmp_path) -> Path:  # noqa: ANN001
    files = [serve(https_server, "model.safetensors", timm_file.read_bytes())]
    return write_registry(
        tmp_path / "timm.yaml",
        {
            "none-timm": vision_entry("timm", "resnet18", files, []),
            "partial-timm": vision_entry("timm", "resnet18", files, TIMM_PARTIAL),
        },
    )


@pytest.mark.parametrize("model", ["none-timm", "partial-timm"])
def test_timm_every_derived_stage_equals_features_only(model, timm_file, timm_registries) -> None:  # noqa: ANN001
    names = [s.name for s in zoo.stages(model, registries=[timm_registries])]
    assert names == ["act1", "layer1", "layer2", "layer3", "layer4"]  # timm's feature_info, whatever the entry lists
    x = torch.randn(2, 3, 224, 224)
    expected = timm_features(timm_file, list(range(5)), x)
    for name, want in zip(names, expected):
        with torch.no_grad():
            got = zoo.load(model, until=name, registries=[timm_registries])(x)
        assert close(got, want), name
    # The issue's case: an entry without act1 must still cut layer3 at layer3, not at layer2.
    with torch.no_grad():
        out = zoo.load(model, until="layer3", registries=[timm_registries])(x)
    assert out.shape == (2, 256, 14, 14)


def test_timm_several_stages_at_once(timm_file, timm_registries) -> None:  # noqa: ANN001
    x = torch.randn(2, 3, 224, 224)
    cut = zoo.load("partial-timm", until=["layer4", "layer2", "layer3"], registries=[timm_registries])
    with torch.no_grad():
        outs = cut(x)
    l2, l3, l4 = timm_features(timm_file, [2, 3, 4], x)
    assert isinstance(outs, tuple) and [o.shape[1] for o in outs] == [512, 128, 256]  # the order asked for
    assert close(outs[0], l4) and close(outs[1], l2) and close(outs[2], l3)
    assert cut.zoo_stages == ["layer4", "layer2", "layer3"] and cut.zoo_stage is None
    # The deepest stage decides what is kept: a cut up to layer3 has no layer4 or head.
    up_to_3 = zoo.load("partial-timm", until=["layer2", "layer3"], registries=[timm_registries])
    assert not any(n.startswith(("model.layer4", "model.fc")) for n, _ in up_to_3.named_parameters())


# ---- torchvision ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tv_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    import torchvision

    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture
def tv_registries(tv_file, https_server, tmp_path) -> Path:  # noqa: ANN001
    _, path = tv_file
    files = [serve(https_server, "resnet18.pth", path.read_bytes())]
    partial = [{"name": "layer2", "channels": 128, "stride": 8, "aliases": ["c3"]}, {"name": "layer3.1.conv2", "channels": 256, "stride": 16}]
    return write_registry(
        tmp_path / "tv.yaml",
        {
            "none-tv": vision_entry("torchvision", "resnet18", files, []),
            "partial-tv": vision_entry("torchvision", "resnet18", files, partial),
        },
    )


def tv_features(model: torch.nn.Module, names: list[str], x: torch.Tensor) -> list[torch.Tensor]:
    """torchvision's own extraction, one node at a time (several at once share tensors that in-place ReLUs overwrite)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    outs = []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extractor = create_feature_extractor(model, return_nodes={name: name})
        with torch.no_grad():
            outs.append(extractor(x)[name])
    return outs


@pytest.mark.parametrize("model", ["none-tv", "partial-tv"])
def test_torchvision_every_derived_stage_equals_create_feature_extractor(model, tv_file, tv_registries) -> None:  # noqa: ANN001
    reference, _ = tv_file
    stages = zoo.stages(model, all=True, registries=[tv_registries])
    names = [s.name for s in stages]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    assert [s.name for s in stages if s.main] == ["relu", "layer1", "layer2", "layer3", "layer4"]
    x = torch.randn(2, 3, 224, 224)
    expected = tv_features(reference, names + ["layer3.1.conv2"], x)
    for name, want in zip(names + ["layer3.1.conv2"], expected):  # a graph node, not a listed stage, is a cut too
        with torch.no_grad():
            got = zoo.load(model, until=name, registries=[tv_registries])(x)
        assert close(got, want), name


def test_torchvision_alias_and_graph_node_checked(tv_file, tv_registries) -> None:  # noqa: ANN001
    reference, _ = tv_file
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        by_alias = zoo.load("partial-tv", until="c3", registries=[tv_registries])(x)
    assert close(by_alias, tv_features(reference, ["layer2"], x)[0])
    stage = features.cut_for(zoo.info("partial-tv", registries=[tv_registries]), "layer3.1.conv2").stages[0]
    assert (stage.channels, stage.stride, stage.main) == (256, 16, False)
    # Several stages at once: bn1 is returned as it was, not as the in-place ReLU after it left it.
    with torch.no_grad():
        bn1, relu = zoo.load("partial-tv", until=["bn1", "relu"], registries=[tv_registries])(x)
    want_bn1, want_relu = tv_features(reference, ["bn1", "relu"], x)
    assert close(bn1, want_bn1) and close(relu, want_relu) and bool((bn1 < 0).any())


# ---- transformers -----------------------------------------------------------------------


@pytest.fixture
def bert_registries(https_server, tmp_path) -> tuple[torch.nn.Module, Path]:  # noqa: ANN001
    reference = tiny_bert()
    folder = tmp_path / "bert"
    reference.save_pretrained(folder)
    files = [serve(https_server, p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]
    none = text_entry(files)
    none["versions"]["v1"]["stages"] = []
    partial = text_entry(files)
    partial["versions"]["v1"]["stages"] = partial["versions"]["v1"]["stages"][3:1:-1]  # layers 2 and 1, reversed
    return reference, write_registry(tmp_path / "bert.yaml", {"none-bert": none, "partial-bert": partial})


@pytest.mark.parametrize("model", ["none-bert", "partial-bert"])
def test_transformers_every_derived_stage_equals_hidden_states(model, bert_registries) -> None:  # noqa: ANN001
    reference, reg = bert_registries
    names = [s.name for s in zoo.stages(model, registries=[reg])]
    assert names == ["embeddings", "encoder.layer.0", "encoder.layer.1", "encoder.layer.2", "encoder.layer.3"]
    ids = torch.randint(0, 99, (2, 11))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        hidden = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for k, name in enumerate(names):
            assert close(zoo.load(model, until=name, registries=[reg])(ids, mask), hidden[k]), name
        several = zoo.load(model, until=["encoder.layer.3", "embeddings"], registries=[reg])(ids, mask)
    assert close(several[0], hidden[4]) and close(several[1], hidden[0])


# ---- ONNX -------------------------------------------------------------------------------


@pytest.fixture
def onnx_registry(https_server, tmp_path) -> tuple[Path, Path]:  # noqa: ANN001
    torch.manual_seed(2)
    net = SmallNet().eval()
    path = tmp_path / "small.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(path), input_names=["image"], output_names=["logits"],
                          dynamo=False, dynamic_axes={"image": {0: "n"}})
    entry = vision_entry("onnx", "small", [serve(https_server, "small.onnx", path.read_bytes())], [], size=32)
    return path, write_registry(tmp_path / "onnx.yaml", {"none-onnx": entry})


def test_onnx_every_tensor_is_a_cut_and_equals_the_whole_graph(onnx_registry) -> None:  # noqa: ANN001
    import onnx

    from zoo.adapters._onnx import OnnxStage, with_outputs

    path, reg = onnx_registry
    stages = zoo.stages("none-onnx", all=True, registries=[reg])
    main = [s for s in stages if s.main]
    # One per resolution: the two convolutions, then the global pool (one position: the whole image).
    assert [(s.channels, s.stride) for s in main if len(s.shape) == 3] == [(8, 1), (16, 2), (16, 32)]
    assert main[-1].name == "logits" and main[-1].channels == 5
    tensors = [t for node in onnx.load(str(path)).graph.node for t in node.output]
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    whole = OnnxStage(with_outputs(onnx.load(str(path)), tensors), tensors)(x)
    for name, want in zip(tensors, whole):  # every tensor name, measured or not, is accepted
        assert close(zoo.load("none-onnx", until=name, registries=[reg])(x), want), name


# ---- Caffe ------------------------------------------------------------------------------


@pytest.fixture
def caffe_registry(https_server, tmp_path) -> tuple[Any, Path, str]:  # noqa: ANN001
    import test_caffe as tc

    from zoo import caffe

    torch.manual_seed(3)
    module = tc.TinyGoogLeNet().eval()
    folder, data = tc.model_dir(tmp_path, module, f"http://127.0.0.1:{https_server.port}/w/tiny_googlenet.caffemodel")
    https_server.add("/w/tiny_googlenet.caffemodel", data)
    https_server.add("/w/deploy.prototxt", tc.GOOGLENET.encode())
    name, entry = caffe.registry_entry(folder, prototxt_url=https_server.url("/w/deploy.prototxt"), paper=tc.PAPER)
    for version in entry["versions"].values():
        version.pop("stages", None)  # an entry written by hand, without stages
    return module, write_registry(tmp_path / "caffe.yaml", {name: entry}), name


def test_caffe_entry_without_stages_cuts_at_every_top_blob(caffe_registry, tmp_path) -> None:  # noqa: ANN001
    from zoo import caffe

    module, reg, name = caffe_registry
    tops = [s.name for s in zoo.stages(name, all=True, registries=[reg])]
    assert "pool1/norm1" in tops and "inception_3a/output" in tops and tops[-1] == "prob"
    folder = zoo.pull(name, registries=[reg])
    net = caffe.load_net(folder / "deploy.prototxt", folder / "tiny_googlenet.caffemodel")
    image = torch.rand(2, 3, 31, 31) * 255 - 110
    with torch.no_grad():
        expected = caffe.TorchNet(net, tops, rgb_input=True)(image)
    for top, want in zip(tops, expected):
        assert close(zoo.load(name, until=top, registries=[reg])(image), want), top
    # The issue's case: the export at a blob the entry does not list works, with parity.
    result = zoo.export(name, "pool1/norm1", tmp_path / "norm1.onnx", registries=[reg])
    assert result.parity is not None and result.parity.ok and list(result.outputs) == ["pool1/norm1"]


# ---- errors -----------------------------------------------------------------------------


def test_a_wrong_name_lists_the_closest_stages(timm_registries) -> None:  # noqa: ANN001
    with pytest.raises(StageNotFoundError) as err:
        zoo.load("none-timm", until="layer5", registries=[timm_registries])
    assert err.value.stage == "layer5" and "layer4" in err.value.closest
    assert "Main stages: act1, layer1, layer2, layer3, layer4" in str(err.value)
    r = run_zoo("--registry", str(timm_registries), "export", "none-timm", "--until", "layr3")
    assert r.returncode == 2 and "Closest: layer3" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _lying(timm_file: Path, https_server: Any, tmp_path: Path, stages: list[dict]) -> Path:
    files = [serve(https_server, "model.safetensors", timm_file.read_bytes())]
    return write_registry(tmp_path / "lying.yaml", {"lying": vision_entry("timm", "resnet18", files, stages)})


@pytest.mark.parametrize(
    "stage, field, declared, derived",
    [
        ({"name": "layer3", "channels": 1024, "stride": 16}, "channels", 1024, 256),
        ({"name": "layer3", "channels": 256, "stride": 8}, "stride", 8, 16),
        ({"name": "layer5", "channels": 512, "stride": 32}, "name", "layer5", None),
    ],
    ids=["channels", "stride", "unknown"],
)
def test_a_stage_list_that_disagrees_is_an_error_naming_both_values(  # noqa: ANN001
    stage, field, declared, derived, timm_file, https_server, tmp_path
) -> None:
    reg = _lying(timm_file, https_server, tmp_path, [stage])
    with pytest.raises(StageMismatchError) as err:
        zoo.load("lying", until="layer2", registries=[reg])  # checked on every load, whatever the cut
    assert (err.value.stage, err.value.field, err.value.declared, err.value.derived) == (stage["name"], field, declared, derived)
    if field != "name":
        assert f"{field} {declared}" in str(err.value) and f"{field} {derived}" in str(err.value)
    assert https_server.requests_for("/w/model.safetensors") == []  # refused before downloading the weights
    r = run_zoo("registry", "validate", "--deep", str(reg))
    assert r.returncode == 2 and "lying@v1" in r.stderr and stage["name"] in r.stderr


def test_validate_deep_passes_honest_entries(timm_registries, tv_registries) -> None:  # noqa: ANN001
    r = run_zoo("registry", "validate", "--deep", str(timm_registries), str(tv_registries))
    assert r.returncode == 0, r.stderr
    assert "stages of 4 versions match their architectures" in r.stdout


# ---- multi-output export ----------------------------------------------------------------


def test_export_several_stages_one_file_each_output_checked(timm_file, timm_registries, tmp_path) -> None:  # noqa: ANN001
    import onnxruntime as ort

    out = tmp_path / "fpn.onnx"
    r = run_zoo("--registry", str(timm_registries), "export", "none-timm", "--until", "layer2,layer3,layer4", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert list(result["outputs"]) == ["layer2", "layer3", "layer4"] and result["parity"]["ok"]
    meta = read_metadata(out)
    assert meta["stage"] == "layer2,layer3,layer4" and meta["channels"] == "128,256,512" and meta["stride"] == "8,16,32"
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    outs = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    for got, want in zip(outs, timm_features(timm_file, [2, 3, 4], torch.from_numpy(x))):
        assert np.allclose(got, want.numpy(), rtol=1e-3, atol=1e-4)


def test_multi_output_parity_checks_every_output(timm_registries, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A wrong value in only the second output fails the export: each output is compared."""
    from zoo.adapters._timm import TimmStages

    original = TimmStages.forward

    def second_is_off(self, x):  # noqa: ANN001, ANN202
        outs = original(self, x)
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return outs
        return (outs[0], outs[1] * 1.01)

    monkeypatch.setattr(TimmStages, "forward", second_is_off)
    with pytest.raises(zoo.errors.ParityError):
        zoo.export("none-timm", ["layer2", "layer3"], tmp_path / "x.onnx", registries=[timm_registries],
                   exporter="torchscript", use_cache=False)
    assert not (tmp_path / "x.onnx").exists()


# ---- the derived-stage cache and the contract ---------------------------------------------


def test_derived_stages_are_cached_and_read_without_the_framework(timm_registries, zoo_env) -> None:  # noqa: ANN001
    zoo.stages("none-timm", registries=[timm_registries])
    assert list((zoo_env / "stages").glob("*.json"))
    code = (
        "import sys, zoo; "
        f"names = [s.name for s in zoo.stages('none-timm', registries=[{str(timm_registries)!r}])]; "
        "heavy = {'torch', 'timm'} & set(sys.modules); "
        "sys.exit(f'{names} {heavy}' if heavy or names[-1] != 'layer4' else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**__import__("os").environ})
    assert r.returncode == 0, r.stdout + r.stderr


def test_one_adapter_contract() -> None:
    import tomllib

    from zoo import schema
    from zoo._plugins import ADAPTERS
    from zoo.adapters import get_adapter
    from zoo.adapters._base import Adapter

    assert schema.ADAPTERS == tuple(ADAPTERS)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name, spec in ADAPTERS.items():
        adapter = get_adapter(name)
        assert isinstance(adapter, Adapter) and adapter.name == name and spec.extra in extras
        assert type(adapter).build is not Adapter.build and type(adapter).export_graph is not Adapter.export_graph
    # The exporter and the feature API branch on no adapter name: adapters carry the differences.
    for module in [*sorted((REPO / "zoo" / "exporter").glob("*.py")), REPO / "zoo" / "features.py"]:
        text = module.read_text()
        assert not re.search(r"adapter\s*(==|!=|in)\s*[\"'(]", text), module
        assert not re.search(r"[\"'](timm|torchvision|transformers|onnx|caffe)[\"']", text), module


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch, shape, names, trunk",
    [
        ("fasterrcnn_mobilenet_v3_large_fpn", [3, 224, 224], ["backbone.body.3", "backbone.body.16"], "backbone.body"),
        ("deeplabv3_resnet50", [3, 224, 224], ["backbone.layer2", "backbone.layer4"], "backbone"),
        ("r3d_18", [3, 8, 112, 112], ["layer2", "layer4"], ""),
    ],
)
def test_torchvision_detection_segmentation_video_cut_in_their_trunk(arch, shape, names, trunk, https_server, tmp_path) -> None:  # noqa: ANN001
    """Detection/segmentation heads take lists and return dicts: stages live in the backbone, cut there."""
    import inspect

    import torchvision
    from torchvision.models.feature_extraction import create_feature_extractor

    builder = torchvision.models.get_model_builder(arch)
    extra = {"weights_backbone": None} if "weights_backbone" in inspect.signature(builder).parameters else {}
    torch.manual_seed(4)
    model = builder(weights=None, **extra).eval()
    torch.save(model.state_dict(), tmp_path / "w.pth")
    entry = vision_entry("torchvision", arch, [serve(https_server, "w.pth", (tmp_path / "w.pth").read_bytes())], [])
    entry["versions"]["v1"]["input"]["shape"] = shape
    reg = write_registry(tmp_path / "tv.yaml", {"tv-trunk": entry})
    assert set(names) <= {s.name for s in zoo.stages("tv-trunk", all=True, registries=[reg])}
    x = torch.randn(1, *shape)
    with torch.no_grad():
        got = zoo.load("tv-trunk", until=names, registries=[reg])(x)
        part = model.get_submodule(trunk) if trunk else model
        inner = [n[len(trunk) + 1 :] if trunk else n for n in names]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = create_feature_extractor(part, return_nodes={n: n for n in inner})(x)
    for name, g, n in zip(names, got, inner):
        assert close(g, want[n]), name


def test_shipped_torchvision_models_without_an_input_shape_or_float_parameters() -> None:
    """Found deriving the stage table: detection/segmentation entries have no input shape (a clear registry error now,
    not a TypeError), and quantized models have no float parameters (their stages derive, on the CPU)."""
    from zoo.errors import RegistryError

    with pytest.raises(RegistryError) as err:
        zoo.stages("fcn_resnet50")
    (issue,) = err.value.issues
    assert issue.code == "input_shape_missing" and issue.location.endswith(".input.shape") and "input:" in issue.message
    r = run_zoo("stages", "fasterrcnn_resnet50_fpn")
    assert r.returncode == 2 and "no input shape" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    stages = {s.name: s for s in zoo.stages("quantized_resnet50")}
    assert (stages["layer3"].channels, stages["layer3"].stride, stages["layer3"].shape) == (1024, 16, (1024, 14, 14))
