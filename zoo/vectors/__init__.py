"""Static word embeddings (GloVe, word2vec): fast parsing, a safe cached form, lookups.

The published files come in three formats, each possibly gzipped or zipped:

- ``glove``: text, ``word v1 … vd`` per line, no header (GloVe 840B has words
  containing spaces: the word is everything before the last ``d`` fields);
- ``word2vec``: the same text after a first line ``count dim``;
- ``word2vec-binary``: the header ``count dim\\n``, then per word its bytes up
  to a space, ``dim`` little-endian float32 values and an optional ``\\n``.

:func:`parse` reads any of them in one streaming pass, a block of lines at a
time, converting every number of a block with one numpy call (no Python float
per value). :func:`convert` writes the cached form, which holds no pickle and
no code::

    dest_dir/
    ├── vectors.safetensors    one float32 tensor named "vectors", shape (n, dim)
    ├── vocab.txt              one word per line, UTF-8, in file (frequency) order
    └── report.json            what parse found: format, counts, anomalies

:meth:`KeyedVectors.load` memory-maps that matrix read-only (the safetensors
header is parsed here, so loading needs neither safetensors nor torch).

gensim's own ``.model`` files are pickles; they are refused, never unpickled.

The package, one module per job: ``_source`` (opening plain, gzip and zip
files, decompression bounded against bombs), ``_parsed`` (the result and the
collector both parsers fill), ``_text`` and ``_binary`` (the parsers),
``_parse`` (:func:`parse`: detects the format), ``_safetensors`` (the matrix
written with safetensors and mapped back without it), ``_cached`` (the cached
folder, :func:`convert`) and ``_keyed`` (:class:`KeyedVectors`).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "tiny.txt").write_text("king 1 0\\nqueen 0.9 0.1\\napple 0 1\\n")
    >>> kv = KeyedVectors.load(convert(d / "tiny.txt", d / "tiny"))
    >>> kv.vector_size, len(kv), kv.most_similar("king", topn=1)[0][0]
    (2, 3, 'queen')
"""

from zoo.vectors._cached import REPORT_FILE, VECTORS_FILE, VOCAB_FILE, convert  # noqa: F401 - the cached form's file names
from zoo.vectors._keyed import KeyedVectors, from_parsed
from zoo.vectors._parse import FORMATS, parse
from zoo.vectors._parsed import Parsed

__all__ = ["FORMATS", "Parsed", "parse", "convert", "KeyedVectors", "from_parsed"]
