"""`zoo registry import-folder`: local model folders become entries pinned by sha256, adopted by `zoo cache import`, used offline.

Each layout is built here (a tiny random-weight BERT saved by transformers with a
tokenizer trained on the spot, the same as a sentence-transformers folder, a
timm model saved by timm's own ``save_for_hf``, an ONNX file exported by torch),
then run through the real CLI: import-folder, validate, cache import, and
offline stages / embed / export. The embeddings are compared with the
framework's own output for the same folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from conftest import run_zoo
from zoo import errors

SENTENCES = [
    "a man plays a guitar", "the band sings on stage", "she hums a song", "drums and a piano play",
    "stocks fell sharply today", "bonds rallied after the bank spoke", "the market rose", "investors sold shares",
]
LABELS = ["music"] * 4 + ["money"] * 4


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(SENTENCES, trainers.WordPieceTrainer(vocab_size=80, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]",
        model_max_length=48,
    )


def bert_folder(folder: Path, layers: int = 2) -> Path:
    """A random-weight BERT (hidden 32) and its tokenizer, saved as transformers saves them."""
    from transformers import BertConfig, BertModel

    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    model = BertModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # random init leaves norms at 1 and biases at 0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _mean_pooled(folder: Path, texts: list[str]) -> np.ndarray:
    """transformers' own last hidden state of the folder, mean-pooled over the attention mask."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def _embeddings(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return np.stack(table.column("embedding").to_pylist()).astype(np.float32)


def _jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in zip(SENTENCES, LABELS)))
    return path


def _images(folder: Path, n: int = 3) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.fromarray((np.random.RandomState(i).rand(70, 90, 3) * 255).astype("uint8")).save(path)
        paths.append(path)
    return paths


def _import_and_adopt(folder: Path, name: str, team: Path, *extra: str) -> dict[str, Any]:
    """import-folder -o team.yaml, validate, cache import; returns the entry's version."""
    r = run_zoo("registry", "import-folder", str(folder), "--name", name, "-o", str(team), *extra)
    assert r.returncode == 0, r.stderr
    assert f"cache import {folder if folder.is_dir() else folder.parent}" in r.stdout
    r = run_zoo("registry", "validate", str(team))
    assert r.returncode == 0, r.stderr
    adopt = folder if folder.is_dir() else folder.parent
    r = run_zoo("--registry", str(team), "cache", "import", str(adopt), "--json")
    assert r.returncode == 0, r.stderr
    assert f"{name}@local" in r.stdout
    import yaml

    return yaml.safe_load(team.read_text())["models"][name]["versions"]["local"]


def _offline(*args: str) -> Any:
    r = run_zoo(*args, env={"ZOO_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    return r


# ---- the Hugging Face layout ----------------------------------------------------------------------


def test_hf_folder_entry_from_files_only(tmp_path: Path) -> None:
    """Without -o the library writes nothing; every value is read from the folder's files."""
    folder = bert_folder(tmp_path / "bert", layers=3)
    imported = zoo.registry.import_folder(folder, name="my-encoder")
    assert imported.output is None and imported.layout == "transformers" and not list(tmp_path.glob("*.yaml"))
    v = imported.entry["versions"]["local"]
    assert (imported.entry["task"], imported.entry["modality"], v["adapter"], v["arch"]) == ("feature-extraction", "text", "transformers", "bert")
    assert v["license"] == "unknown" and "paper" not in imported.entry and "description" not in v
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder))
    assert v["params"] == sum(p.numel() for p in model.parameters())  # counted from the header alone
    assert v["input"] == {"tokenizer": "tokenizer.json", "max_length": 48}  # the tokenizer's limit, tighter than 64 positions
    assert [s["name"] for s in v["stages"]] == ["embeddings", "encoder.layer.0", "encoder.layer.1", "encoder.layer.2"]
    on_disk = {p.name: p for p in folder.iterdir()}
    assert {f["path"] for f in v["files"]} == set(on_disk)
    for f in v["files"]:
        assert f["source"] == {"local": True} and f["size"] == on_disk[f["path"]].stat().st_size
    assert imported.document()["models"]["my-encoder"] is imported.entry


def test_checkpoint_with_a_head_names_stages_from_the_base_model(tmp_path: Path) -> None:
    """A BertForMaskedLM checkpoint keeps its encoder under 'bert.': stages are named as AutoModel's ('encoder.layer.0')."""
    from transformers import BertConfig, BertForMaskedLM

    tokenizer = _tokenizer()
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=20, max_position_embeddings=32)).save_pretrained(tmp_path / "mlm")
    tokenizer.save_pretrained(tmp_path / "mlm")
    v = zoo.registry.import_folder(tmp_path / "mlm", name="mlm").entry["versions"]["local"]
    assert [s["name"] for s in v["stages"]] == ["embeddings", "encoder.layer.0", "encoder.layer.1"]
    assert {s["channels"] for s in v["stages"]} == {16}


@pytest.mark.slow
def test_hf_folder_embeds_probes_and_exports_offline(tmp_path: Path) -> None:
    folder = bert_folder(tmp_path / "bert")
    team = tmp_path / "team.yaml"
    version = _import_and_adopt(folder, "my-encoder", team, "--license", "apache-2.0", "--description", "fine-tuned on tickets")
    assert version["license"] == "apache-2.0"
    # The declared stages agree with the ones zoo derives from the architecture.
    r = _offline("--registry", str(team), "stages", "my-encoder", "--json")
    derived = json.loads(r.stdout)
    rows = derived["stages"] if isinstance(derived, dict) else derived
    assert [(s["name"], s["channels"], s["stride"]) for s in rows] == [(s["name"], s["channels"], s["stride"]) for s in version["stages"]]
    data = _jsonl(tmp_path / "data.jsonl")
    _offline("--registry", str(team), "embed", "my-encoder", str(data), "-o", str(tmp_path / "emb.parquet"))
    got = _embeddings(tmp_path / "emb.parquet")
    np.testing.assert_allclose(got, _mean_pooled(folder, SENTENCES), atol=1e-4, rtol=1e-4)
    r = _offline("--registry", str(team), "probe", str(data), "--model", "my-encoder", "--label-field", "label", "--stages", "last",
                 "--folds", "2", "--json")
    assert "my-encoder@local" in r.stdout
    r = _offline("--registry", str(team), "export", "my-encoder", "--until", "encoder.layer.0", "-o", str(tmp_path / "l1.onnx"), "--json")
    assert json.loads(r.stdout)["parity"]["ok"]


@pytest.mark.slow
def test_sentence_transformers_folder_embeds_as_sentence_transformers(tmp_path: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    bert_folder(tmp_path / "hf")
    word = Transformer(str(tmp_path / "hf"), max_seq_length=40)
    model = st.SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), pooling_mode="mean")], device="cpu")
    folder = tmp_path / "st"
    model.save(str(folder))
    imported = zoo.registry.import_folder(folder, name="my-st")
    assert imported.entry["task"] == "sentence-embedding"
    v = imported.entry["versions"]["local"]
    assert v["input"]["max_length"] == 40  # sentence_bert_config.json's max_seq_length
    assert {"modules.json", "1_Pooling/config.json", "sentence_bert_config.json"} <= {f["path"] for f in v["files"]}
    team = tmp_path / "team.yaml"
    _import_and_adopt(folder, "my-st", team)
    data = _jsonl(tmp_path / "data.jsonl")
    _offline("--registry", str(team), "embed", "my-st", str(data), "-o", str(tmp_path / "emb.parquet"))
    expected = model.encode(SENTENCES, convert_to_numpy=True)
    np.testing.assert_allclose(_embeddings(tmp_path / "emb.parquet"), expected, atol=1e-4, rtol=1e-4)


# ---- timm ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_timm_folder_embeds_and_exports_offline(tmp_path: Path) -> None:
    import timm
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    folder = tmp_path / "timm"
    save_for_hf(model, str(folder), safe_serialization=True)
    team = tmp_path / "team.yaml"
    version = _import_and_adopt(folder, "my-timm", team)
    cfg = model.pretrained_cfg
    assert version["arch"] == "test_resnet" and version["arch_args"]["num_classes"] == 5
    assert version["input"] == {"shape": list(cfg["input_size"]), "mean": list(cfg["mean"]), "std": list(cfg["std"]),
                                "interpolation": cfg["interpolation"], "crop_pct": cfg["crop_pct"]}
    assert version["params"] == sum(p.numel() for p in model.parameters())  # BatchNorm statistics are not parameters
    assert version["license"] == cfg["license"]
    images = _images(tmp_path / "imgs")
    _offline("--registry", str(team), "embed", "my-timm", str(tmp_path / "imgs"), "-o", str(tmp_path / "emb.parquet"))
    from PIL import Image

    transform = zoo.preprocess("my-timm", registries=[team])
    batch = torch.stack([torch.as_tensor(transform(Image.open(p).convert("RGB"))) for p in images])
    with torch.no_grad():
        expected = model.forward_features(batch).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(_embeddings(tmp_path / "emb.parquet"), expected, atol=1e-4, rtol=1e-3)
    r = _offline("--registry", str(team), "export", "my-timm", "--until", "layer3", "-o", str(tmp_path / "l3.onnx"), "--json")
    assert json.loads(r.stdout)["parity"]["ok"]


# ---- ONNX ---------------------------------------------------------------------------------------


class _Features(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


@pytest.mark.slow
def test_onnx_file_embeds_and_exports_offline(tmp_path: Path) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    net = _Features().eval()
    path = tmp_path / "onnx" / "features.onnx"
    path.parent.mkdir()
    torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(path), input_names=["image"], output_names=["features"],
                      dynamic_axes={"image": {0: "n"}, "features": {0: "n"}}, dynamo=False)
    team = tmp_path / "team.yaml"
    version = _import_and_adopt(path, "my-onnx", team, "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25")
    assert (version["adapter"], version["arch"], [f["path"] for f in version["files"]]) == ("onnx", "features", ["features.onnx"])
    assert version["input"] == {"shape": [3, 32, 32], "mean": [0.5] * 3, "std": [0.25] * 3}
    assert version["params"] == sum(p.numel() for p in net.parameters())
    images = _images(tmp_path / "imgs")
    _offline("--registry", str(team), "embed", "my-onnx", str(tmp_path / "imgs"), "--until", "features", "-o", str(tmp_path / "emb.parquet"))
    from PIL import Image

    transform = zoo.preprocess("my-onnx", registries=[team])
    batch = np.stack([np.asarray(transform(Image.open(p).convert("RGB")), dtype=np.float32) for p in images])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(["features"], {"image": batch})[0].mean(axis=(2, 3))
    np.testing.assert_allclose(_embeddings(tmp_path / "emb.parquet"), expected, atol=1e-5, rtol=1e-4)
    r = _offline("--registry", str(team), "export", "my-onnx", "--until", "features", "-o", str(tmp_path / "cut.onnx"), "--json")
    assert json.loads(r.stdout)["parity"]["ok"]


# ---- what is refused ----------------------------------------------------------------------------


def _refused(folder: Path, reason: str, *words: str) -> None:
    with pytest.raises(errors.FolderImportError) as info:
        zoo.registry.import_folder(folder, name="refused")
    assert info.value.reason == reason
    r = run_zoo("registry", "import-folder", str(folder), "--name", "refused", "-o", str(folder.parent / "team.yaml"))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), lines
    assert not (folder.parent / "team.yaml").exists()


def _small_hf(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 8}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    return folder


def test_pickled_weights_without_safetensors_are_refused(tmp_path: Path) -> None:
    folder = _small_hf(tmp_path / "pickled")
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    _refused(folder, "pickle", "pytorch_model.bin", "convert them to safetensors")


def test_pickled_weights_beside_safetensors_are_left_out(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = _small_hf(tmp_path / "both")
    save_file({"embeddings.word_embeddings.weight": torch.zeros(2, 8)}, str(folder / "model.safetensors"))
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    imported = zoo.registry.import_folder(folder, name="both")
    assert [f["path"] for f in imported.entry["versions"]["local"]["files"]] == ["config.json", "model.safetensors", "vocab.txt"]
    assert [p for p, _ in imported.skipped] == ["pytorch_model.bin"]


def test_remote_code_is_refused(tmp_path: Path) -> None:
    folder = _small_hf(tmp_path / "remote")
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "auto_map": {"AutoModel": "modeling_x.XModel"}}))
    _refused(folder, "remote-code", "config.json", "auto_map")


def test_remote_code_in_the_tokenizer_config_is_refused(tmp_path: Path) -> None:
    folder = _small_hf(tmp_path / "remote-tok")
    (folder / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["tok.T", None]}}))
    _refused(folder, "remote-code", "tokenizer_config.json", "auto_map")


def test_python_files_are_refused(tmp_path: Path) -> None:
    folder = _small_hf(tmp_path / "code")
    (folder / "modeling_x.py").write_text("import os\n")
    _refused(folder, "python-file", "modeling_x.py", "never runs")


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = _small_hf(tmp_path / "linked")
    (tmp_path / "elsewhere.safetensors").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere.safetensors", folder / "model.safetensors")
    _refused(folder, "symlink", "model.safetensors", "outside the folder", "cp -rL")


def test_an_unknown_layout_says_which_are_recognised(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "weights.npz").write_bytes(b"PK")
    _refused(folder, "layout", "Hugging Face", "timm", "ONNX")


def test_a_malformed_safetensors_header_is_refused(tmp_path: Path) -> None:
    folder = _small_hf(tmp_path / "bad")
    (folder / "model.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}")
    _refused(folder, "too-large", "model.safetensors", "header")
