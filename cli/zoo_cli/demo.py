"""The last steps of ``make demo``, on the real all-MiniLM-L6-v2.

Usage:
    python -m zoo_cli.demo compare FILE.onnx     # an exported cut in ONNX Runtime next to torch
    python -m zoo_cli.demo topics OUT.jsonl      # write the built-in labelled sentences (4 topics)
    python -m zoo_cli.demo classify FILE.onnx    # run an exported classifier with ONNX Runtime alone

``compare`` tokenizes two sentences with the model's verified tokenizer, runs
them through the ONNX file and through the same cut in torch, mean-pools the
token states and prints both cosine similarities. ``topics`` writes the small
labelled set ``zoo probe`` sweeps in the demo. ``classify`` needs neither
torch nor zoo's model code: the tokenizer file from the cache (the
``tokenizers`` library) and ``onnxruntime``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import click

MODEL = "all-minilm-l6-v2"
STAGE = "encoder.layer.2"
SENTENCES = ("A man is playing a guitar.", "Someone is strumming a guitar on stage.")

# Four topics; each sentence combines an opening, a subject and an ending of its topic, so the
# wording varies and no two sentences are the same.
_TOPICS = {
    "sports": (
        ("Last night", "In the final minute", "After a long season", "During the match", "On Sunday afternoon"),
        ("the striker scored a goal", "the goalkeeper saved a penalty", "the team won the championship", "the runner broke the record", "the coach changed the tactics"),
        ("and the fans cheered.", "in front of a full stadium.", "to win the cup.", "despite the injury."),
    ),
    "cooking": (
        ("For dinner", "This morning", "To make the sauce", "Before serving", "At the bakery"),
        ("she chopped the onions", "he simmered the tomato soup", "they baked fresh bread", "the chef seasoned the roast", "we whisked eggs and flour"),
        ("with a pinch of salt.", "in a hot oven.", "until it turned golden.", "for twenty minutes."),
    ),
    "computers": (
        ("Yesterday", "After the update", "On the new laptop", "In the data center", "During the release"),
        ("the program crashed", "the engineer fixed a memory leak", "the compiler reported an error", "the server rebooted", "the database query ran slowly"),
        ("because of a bug.", "after the patch was installed.", "on the Linux machine.", "while the tests were running."),
    ),
    "weather": (
        ("Tomorrow", "Early in the morning", "All week", "By the evening", "Over the mountains"),
        ("heavy rain is expected", "a cold wind blew", "the sky cleared up", "thick fog covered the valley", "a thunderstorm rolled in"),
        ("with strong gusts.", "and temperatures dropped.", "across the coast.", "after a sunny afternoon."),
    ),
}
# Sentences the probe never saw, for the classifier.
NEW_SENTENCES = (
    ("The midfielder passed the ball and the crowd roared.", "sports"),
    ("Stir the garlic in butter before adding the pasta.", "cooking"),
    ("The laptop froze when the driver was installed.", "computers"),
    ("Snow will fall tonight in the northern hills.", "weather"),
)


def topic_sentences(per_topic: int = 30) -> list[dict[str, str]]:
    """The built-in labelled set: ``per_topic`` sentences for each of four topics, ``{"text", "topic"}``, interleaved."""
    rows = []
    for topic, parts in _TOPICS.items():
        combos = itertools.product(*parts)
        # Step through the product so consecutive sentences differ in every part.
        picked = [" ".join(c) for i, c in enumerate(combos) if i % 3 == 0][:per_topic]
        rows.append([{"text": text[0].upper() + text[1:], "topic": topic} for text in picked])
    return [row for group in zip(*rows) for row in group]


def _mean_pool(states, mask):  # noqa: ANN001, ANN202
    import numpy as np

    mask = mask[..., None].astype(states.dtype)
    return (states * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def _cosine(a, b) -> float:  # noqa: ANN001
    import numpy as np

    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@click.group()
def main() -> None:
    """The demo's steps that are not zoo commands."""


@main.command()
@click.argument("onnx_file", type=click.Path(exists=True, dir_okay=False))
def compare(onnx_file: str) -> None:
    """Compare ONNX Runtime and torch on two sentences."""
    import numpy as np
    import onnxruntime as ort
    import torch

    import zoo

    tok = zoo.tokenizer(MODEL)
    batch = tok(list(SENTENCES), padding=True, return_tensors="np")
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    sess = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    (ort_states,) = sess.run(None, {"input_ids": ids, "attention_mask": mask})
    module = zoo.load(MODEL, until=STAGE)
    with torch.no_grad():
        torch_states = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    ort_emb, torch_emb = _mean_pool(ort_states, mask), _mean_pool(torch_states, mask)
    click.echo(f"sentences: {SENTENCES[0]!r} / {SENTENCES[1]!r}")
    click.echo(f"{MODEL} cut after {STAGE}, mean-pooled embeddings ({ort_emb.shape[1]} dims)")
    click.echo(f"  cosine similarity, ONNX Runtime: {_cosine(ort_emb[0], ort_emb[1]):.6f}")
    click.echo(f"  cosine similarity, torch:        {_cosine(torch_emb[0], torch_emb[1]):.6f}")
    click.echo(f"  max abs difference of the token states: {np.abs(ort_states - torch_states).max():.2e}")


@main.command()
@click.argument("output", type=click.Path(dir_okay=False))
def topics(output: str) -> None:
    """Write the built-in labelled sentences as JSONL (fields: text, topic)."""
    rows = topic_sentences()
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    click.echo(f"wrote {len(rows)} sentences in {len({r['topic'] for r in rows})} topics to {path}")


@main.command()
@click.argument("onnx_file", type=click.Path(exists=True, dir_okay=False))
def classify(onnx_file: str) -> None:
    """Classify sentences the probe never saw, with ONNX Runtime alone (no torch)."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    import zoo

    sess = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    classes = json.loads(meta["zoo.classes"])
    tok = Tokenizer.from_file(str(zoo.pull(MODEL, offline=True) / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    encoded = tok.encode_batch([text for text, _ in NEW_SENTENCES])
    ids = np.array([e.ids for e in encoded], np.int64)
    mask = np.array([e.attention_mask for e in encoded], np.int64)
    (probs,) = sess.run(None, {"input_ids": ids, "attention_mask": mask})
    click.echo(f"{Path(onnx_file).name}: {meta['zoo.model']} cut after {meta['zoo.stage']}, classes {', '.join(classes)}")
    right = 0
    for (text, want), p in zip(NEW_SENTENCES, probs):
        got = classes[int(p.argmax())]
        right += got == want
        click.echo(f"  {got:<10} {p.max():.3f}  {text}")
    click.echo(f"  {right}/{len(NEW_SENTENCES)} right (ONNX Runtime only: no torch imported: {'torch' not in sys.modules})")


if __name__ == "__main__":
    sys.exit(main())
