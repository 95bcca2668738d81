"""Parsing a GloVe text file with zoo.vectors against gensim, and reloading the cached form.

Method: a 400,000-word x 100-d GloVe text file (no header, one ``word v1 … v100``
line per word, values written like GloVe's, e.g. ``-0.41242``) is generated in a
temporary folder from a fixed seed. In the same run, on the same file:

1. ``zoo.vectors.parse(path)``, best of ``--runs``;
2. ``zoo.vectors.convert(path, folder)`` (parse + write safetensors, vocab, report), once;
3. the baseline ``gensim.models.KeyedVectors.load_word2vec_format(path, no_header=True)``,
   best of ``--baseline-runs``;
4. ``zoo.vectors.KeyedVectors.load(folder)`` in a fresh child process per run, timing
   only the load call inside the child (not the interpreter start or ``import numpy``),
   median of ``--runs``. A row is read after the load so the mapping is real.

The file is read once before timing so both parsers see a warm page cache.

Goals: parse at least 3x faster than gensim; cached reload under 0.2 s.

Usage: python bench/vectors_parse.py [--words N] [--dim D] [--runs R] [--baseline-runs B]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_RATIO = 3.0
GOAL_LOAD_S = 0.2

_CHILD = """
import sys, time
from zoo.vectors import KeyedVectors
start = time.perf_counter()
kv = KeyedVectors.load(sys.argv[1])
elapsed = time.perf_counter() - start
kv.vectors[len(kv) // 2].sum()  # touch the mapping
print(elapsed)
"""


def write_glove(path: Path, words: int, dim: int, seed: int = 0) -> None:
    """Writes a GloVe-like text file: unique random words, values as ``%.5f``."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    names: list[bytes] = []
    seen: set[bytes] = set()
    while len(names) < words:
        lengths = rng.integers(2, 13, size=words)
        pool = letters[rng.integers(0, 26, size=(words, 12))]
        for row, n in zip(pool, lengths):
            name = row[:n].tobytes()
            if name not in seen:
                seen.add(name)
                names.append(name)
                if len(names) == words:
                    break
    # Format all values at once: " -0.41242" is 9 bytes, the "-" dropped for positives.
    block = 20_000
    with open(path, "wb") as fh:
        for lo in range(0, words, block):
            hi = min(words, lo + block)
            values = np.clip(rng.normal(0.0, 0.4, size=(hi - lo, dim)), -3.99999, 3.99999)
            scaled = np.rint(np.abs(values) * 100_000).astype(np.int64)
            chars = np.empty((hi - lo, dim, 9), dtype=np.uint8)
            chars[..., 0] = ord(" ")
            chars[..., 1] = ord("-")
            chars[..., 2] = ord("0") + scaled // 100_000
            chars[..., 3] = ord(".")
            for i, power in enumerate((10_000, 1_000, 100, 10, 1)):
                chars[..., 4 + i] = ord("0") + (scaled // power) % 10
            keep = np.ones(chars.shape, dtype=bool)
            keep[..., 1] = values < 0
            lengths = keep.reshape(hi - lo, -1).sum(axis=1)
            flat = chars[keep].tobytes()
            ends = np.cumsum(lengths)
            starts = ends - lengths
            fh.write(b"".join(names[lo + i] + flat[s:e] + b"\n" for i, (s, e) in enumerate(zip(starts, ends))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=1)
    args = parser.parse_args()

    from zoo import vectors

    try:
        from gensim.models import KeyedVectors as GensimKeyedVectors
    except ImportError:
        raise SystemExit("gensim is needed for the baseline: pip install gensim") from None

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "glove.txt"
        start = time.perf_counter()
        write_glove(path, args.words, args.dim)
        size_mb = path.stat().st_size / 1e6
        print(f"file: {args.words} words x {args.dim}-d GloVe text, {size_mb:.0f} MB (written in {time.perf_counter() - start:.1f} s)")
        path.read_bytes()  # warm the page cache for both sides

        zoo_times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            parsed = vectors.parse(path)
            zoo_times.append(time.perf_counter() - start)
        zoo_s = min(zoo_times)

        folder = Path(tmp) / "cached"
        start = time.perf_counter()
        vectors.convert(path, folder)
        convert_s = time.perf_counter() - start

        gensim_times = []
        for _ in range(args.baseline_runs):
            start = time.perf_counter()
            reference = GensimKeyedVectors.load_word2vec_format(str(path), no_header=True)
            gensim_times.append(time.perf_counter() - start)
        gensim_s = min(gensim_times)
        same = reference.index_to_key == parsed.words and np.array_equal(reference.vectors, parsed.vectors)
        del reference

        load_times = []
        for _ in range(args.runs):
            child = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], capture_output=True, text=True, check=True)
            load_times.append(float(child.stdout.strip()))
        load_s = statistics.median(load_times)

    ratio = gensim_s / zoo_s
    print(f"gensim load_word2vec_format(no_header=True)  {gensim_s:7.2f} s  (best of {args.baseline_runs})")
    print(f"zoo.vectors.parse                           {zoo_s:7.2f} s  (best of {args.runs})  {ratio:.1f}x faster")
    print(f"zoo.vectors.convert (parse + write)          {convert_s:7.2f} s")
    print(f"same words and vectors as gensim: {same}")
    print(f"KeyedVectors.load in a fresh process         {load_s * 1000:7.1f} ms (median of {args.runs})")
    print(f"goal parse >= {GOAL_RATIO:.0f}x faster than gensim: {'met' if ratio >= GOAL_RATIO else 'NOT met'}")
    print(f"goal cached reload < {GOAL_LOAD_S:.1f} s: {'met' if load_s < GOAL_LOAD_S else 'NOT met'}")


if __name__ == "__main__":
    main()
