"""Transfer learning: read a dataset, embed it with a cut backbone, probe stages with a linear classifier, export backbone + head.

The package's modules, each one job:

* :mod:`zoo.datasets` (below this package): image folders and text files (local or fsspec URLs) as :class:`Dataset` items;
* ``_pooling``: a cut model's output to one vector per input (avg, max, mean, cls, lasttoken, ...);
* ``_sentence``: a text model's sentence-transformers files (pooling, Normalize, prompts) as :class:`SentenceConfig`;
* ``_runtime``: :class:`Encoder`, preprocessing + ONNX Runtime or torch + pooling over a batch;
* ``_embed``: :func:`embed`, the front that checks the dataset, builds the encoder and picks an engine;
* ``_local``: the local engine (resumable shards, Parquet or ``.npy``);
* ``_ray``: the same pipeline on Ray Data;
* ``_output``: what both engines write (the table, its ``zoo.*`` metadata) and :func:`read_embeddings`;
* ``_encode``: :func:`encode`, texts to vectors in memory, equal to sentence-transformers' ``encode``;
* ``_probe``: cross-validated linear probes, :func:`probe` over models x stages;
* ``_head``: the fitted :class:`Head`, saved as safetensors;
* ``_classifier``: backbone cut + pooling + head + softmax as one ONNX file.
"""

from zoo.transfer._embed import embed
from zoo.transfer._encode import encode
from zoo.transfer._head import Head
from zoo.transfer._output import EmbedResult, read_embeddings
from zoo.transfer._probe import ProbeResult, ProbeRow, probe
from zoo.transfer._sentence import SentenceConfig

__all__ = ["EmbedResult", "Head", "ProbeResult", "ProbeRow", "SentenceConfig", "embed", "encode", "probe", "read_embeddings"]
