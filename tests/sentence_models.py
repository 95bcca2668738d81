"""Tiny random-weight sentence-transformers folders, built offline, for the text-embedding parity tests.

Each architecture gets a real tokenizer trained here with the ``tokenizers``
library (WordPiece for BERT-like models, byte-level BPE for RoBERTa-like and
decoder models, Unigram for T5), wrapped in ``PreTrainedTokenizerFast`` with
the special tokens and padding side its family uses, and a model built from a
transformers config (2 layers, hidden 32). The folder is saved by
sentence-transformers itself, so its ``modules.json``, ``1_Pooling/config.json``,
``sentence_bert_config.json`` and ``config_sentence_transformers.json`` are
the real files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CORPUS = [
    "A man is playing a guitar on the stage tonight.",
    "Someone is strumming a guitar while people sing.",
    "The stock market fell sharply today, and investors worry.",
    "Bonds rallied after the central bank spoke.",
    "A cat sits on the mat and looks at the bird.",
    "The dog runs across the park chasing a red ball.",
    "query: what is the capital of France?",
    "passage: Paris is the capital and largest city of France.",
    "Represent this sentence for searching relevant passages:",
    "Instruct: Given a web search query, retrieve relevant passages. Query:",
    "Hello world! Numbers like 42 and 3.14 appear too.",
    "Short text.",
]


@dataclass(frozen=True)
class Arch:
    """How to build one tiny model: its transformers config, tokenizer kind and padding side."""

    name: str
    model_type: str
    tokenizer: str  # wordpiece | bpe | unigram
    config: dict[str, Any]
    padding_side: str = "right"
    decoder: bool = False  # last-token embedders: EOS appended, left padding


_SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}
ARCHS = {
    "bert": Arch("bert", "bert", "wordpiece", {**_SMALL, "max_position_embeddings": 128}),
    "roberta": Arch("roberta", "roberta", "bpe", {**_SMALL, "max_position_embeddings": 130, "pad_token_id": 1}),
    "xlm-roberta": Arch("xlm-roberta", "xlm-roberta", "bpe", {**_SMALL, "max_position_embeddings": 130, "pad_token_id": 1}),
    "mpnet": Arch("mpnet", "mpnet", "bpe", {**_SMALL, "max_position_embeddings": 130, "pad_token_id": 1}),
    "distilbert": Arch("distilbert", "distilbert", "wordpiece", {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "max_position_embeddings": 128}),
    "deberta-v2": Arch("deberta-v2", "deberta-v2", "wordpiece", {**_SMALL, "max_position_embeddings": 128, "relative_attention": True, "position_buckets": 16, "pos_att_type": ["p2c", "c2p"]}),
    "electra": Arch("electra", "electra", "wordpiece", {**_SMALL, "embedding_size": 32, "max_position_embeddings": 128}),
    "modernbert": Arch("modernbert", "modernbert", "bpe", {**_SMALL, "max_position_embeddings": 128, "global_attn_every_n_layers": 1, "local_attention": 16, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "cls_token_id": 0, "sep_token_id": 2}),
    "t5": Arch("t5", "t5", "unigram", {"d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2, "num_heads": 4, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}),
    "qwen2": Arch("qwen2", "qwen2", "bpe", {**_SMALL, "num_key_value_heads": 2, "max_position_embeddings": 128}, "left", True),
    "qwen3": Arch("qwen3", "qwen3", "bpe", {**_SMALL, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 128}, "left", True),
}


def _specials(arch: Arch) -> dict[str, str]:
    if arch.decoder:
        return {"pad_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    if arch.tokenizer == "wordpiece":
        return {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}
    if arch.tokenizer == "unigram":
        return {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}
    return {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"}


def build_tokenizer(arch: Arch, vocab: int = 160) -> Any:
    """A real fast tokenizer trained on :data:`CORPUS`, with the family's specials and template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = _specials(arch)
    order = list(dict.fromkeys(specials.values()))
    if arch.tokenizer == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    elif arch.tokenizer == "unigram":
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        base = ["<|endoftext|>"] if arch.decoder else ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=base, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    ids = {t: tok.token_to_id(t) for t in order}
    if arch.decoder:
        eos = specials["eos_token"]
        tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, ids[eos])])
    elif arch.tokenizer == "unigram":
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", ids["</s>"])])
    else:
        cls, sep = specials["cls_token"], specials["sep_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}", special_tokens=[(cls, ids[cls]), (sep, ids[sep])]
        )
    inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if arch.model_type in ("bert", "electra", "deberta-v2") else [])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, padding_side=arch.padding_side, model_max_length=128, model_input_names=inputs, **specials
    )


def _config(arch: Arch, vocab: int) -> Any:
    from transformers import AutoConfig

    return AutoConfig.for_model(arch.model_type, vocab_size=vocab, **arch.config)


def build_folder(
    arch: Arch,
    folder: Path,
    *,
    pooling: str | tuple[str, ...] = "mean",
    normalize: bool = False,
    include_prompt: bool = True,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    max_seq_length: int | None = None,
    do_lower_case: bool = False,
    seed: int = 0,
) -> Path:
    """Saves a sentence-transformers folder for ``arch`` at ``folder`` (created) and returns it."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import AutoModel, T5EncoderModel

    tokenizer = build_tokenizer(arch)
    vocab = len(tokenizer)
    config = _config(arch, vocab)
    torch.manual_seed(seed)
    model = (T5EncoderModel(config) if arch.model_type == "t5" else AutoModel.from_config(config)).eval()
    with torch.no_grad():  # random init leaves some norms at 1 and biases at 0: perturb everything a little
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    hf = folder.parent / f"{folder.name}-hf"
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    kwargs: dict[str, Any] = {"max_seq_length": max_seq_length, "do_lower_case": do_lower_case}
    modules = [Transformer(str(hf), **kwargs)]
    modules.append(Pooling(modules[0].get_embedding_dimension(), pooling_mode=pooling, include_prompt=include_prompt))
    if normalize:
        modules.append(Normalize())
    st = SentenceTransformer(modules=modules, device="cpu", prompts=prompts, default_prompt_name=default_prompt_name)
    st.save(str(folder))
    return folder


def folder_files(folder: Path) -> list[tuple[str, bytes]]:
    """Every file of a saved folder, by its path inside it (the registry path)."""
    return sorted((p.relative_to(folder).as_posix(), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def registry_entry(arch: Arch, folder: Path, **version: Any) -> dict[str, Any]:
    """A registry entry pinning every file of ``folder`` by sha256 + size (stages: embeddings + each layer)."""
    import hashlib

    files = [
        {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "source": {"url": f"https://example.invalid/{arch.name}/{path}"}}
        for path, data in folder_files(folder)
    ]
    tokenizer = "tokenizer.json"
    return {
        "task": "sentence-embedding",
        "modality": "text",
        "architecture": f"tiny {arch.name}",
        "paper": {"title": "Test model", "url": "https://example.org/paper"},
        "default": "v1",
        "versions": {
            "v1": {"adapter": "transformers", "arch": arch.model_type, "license": "apache-2.0",
                   "input": {"tokenizer": tokenizer}, "files": files, **version}
        },
    }


def modules_json(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / "modules.json").read_text())
