"""The last step of ``make demo``: run an exported MiniLM cut with ONNX Runtime next to torch.

Usage: python -m zoo_cli.demo FILE.onnx

Tokenizes two sentences with the model's verified tokenizer, runs them through
the ONNX file (ONNX Runtime) and through the same cut in torch, mean-pools the
token states into sentence embeddings, and prints both cosine similarities.
"""

from __future__ import annotations

import sys

import click

MODEL = "all-minilm-l6-v2"
STAGE = "encoder.layer.2"
SENTENCES = ("A man is playing a guitar.", "Someone is strumming a guitar on stage.")


def _mean_pool(states, mask):  # noqa: ANN001, ANN202
    import numpy as np

    mask = mask[..., None].astype(states.dtype)
    return (states * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def _cosine(a, b) -> float:  # noqa: ANN001
    import numpy as np

    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@click.command()
@click.argument("onnx_file", type=click.Path(exists=True, dir_okay=False))
def main(onnx_file: str) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
