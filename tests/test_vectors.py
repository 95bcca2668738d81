"""zoo.vectors: parsing GloVe / word2vec files of every kind, the cached form, lookups.

The files are real files written here, in every format (GloVe text, word2vec
text, word2vec binary; plain, gzipped, zipped), holding random vectors with
planted structure: ``queen ≈ king - man + woman`` and a cluster of synonyms.
gensim, when installed, is the reference parser.
"""

from __future__ import annotations

import gzip
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from zoo import vectors
from zoo.errors import VectorsFormatError, ZooError
from zoo.vectors import KeyedVectors, convert, from_parsed, parse

N_WORDS = 3000
SYNONYMS = ["happy", "glad", "joyful", "cheerful", "delighted"]


def _planted(dim: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = ["king", "man", "woman", "queen", *SYNONYMS]
    words += [f"w{i:05d}" for i in range(N_WORDS - len(words))]
    matrix = rng.standard_normal((N_WORDS, dim)).astype(np.float32)
    king, man, woman = matrix[0], matrix[1], matrix[2]
    matrix[3] = king - man + woman + 0.01 * rng.standard_normal(dim)
    center = rng.standard_normal(dim) * 2
    for i in range(4, 4 + len(SYNONYMS)):
        matrix[i] = center + 0.1 * rng.standard_normal(dim)
    # What a text file holds is what it rounds to: keep the reference exact.
    return words, np.array([[float(f"{v:.6f}") for v in row] for row in matrix], dtype=np.float32)


def _text(words: list[str], matrix: np.ndarray, header: bool) -> bytes:
    lines = [f"{len(words)} {matrix.shape[1]}"] if header else []
    lines += [w + " " + " ".join(f"{v:.6f}" for v in row) for w, row in zip(words, matrix)]
    return ("\n".join(lines) + "\n").encode()


def _binary(words: list[bytes | str], matrix: np.ndarray, count: int | None = None) -> bytes:
    out = [f"{len(words) if count is None else count} {matrix.shape[1]}\n".encode()]
    for word, row in zip(words, matrix):
        raw = word.encode() if isinstance(word, str) else word
        out.append(raw + b" " + row.astype("<f4").tobytes() + b"\n")
    return b"".join(out)


@pytest.fixture(scope="module")
def planted() -> tuple[list[str], np.ndarray]:
    return _planted(50, seed=0)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, planted: tuple[list[str], np.ndarray]) -> dict[str, Path]:
    """Every format, plain and gzipped, plus a zip of two GloVe files (50-d and 100-d)."""
    words, matrix = planted
    root = tmp_path_factory.mktemp("vectors")
    contents = {
        "glove.txt": _text(words, matrix, header=False),
        "w2v.txt": _text(words, matrix, header=True),
        "w2v.bin": _binary(words, matrix),
    }
    paths = {}
    for name, data in contents.items():
        (root / name).write_bytes(data)
        (root / f"{name}.gz").write_bytes(gzip.compress(data))
        paths[name] = root / name
        paths[f"{name}.gz"] = root / f"{name}.gz"
    words100, matrix100 = _planted(100, seed=1)
    with zipfile.ZipFile(root / "glove.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("glove.50d.txt", contents["glove.txt"])
        archive.writestr("glove.100d.txt", _text(words100, matrix100, header=False))
    paths["glove.zip"] = root / "glove.zip"
    return paths


FORMAT_OF = {"glove.txt": "glove", "w2v.txt": "word2vec", "w2v.bin": "word2vec-binary"}
ALL_FILES = [*FORMAT_OF, *(f"{n}.gz" for n in FORMAT_OF)]


def _write(tmp_path: Path, data: bytes, name: str = "v.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---- parsing every format ----------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FILES)
@pytest.mark.parametrize("chunk", [None, 997], ids=["one-block", "many-blocks"])
def test_parse_every_format(
    name: str, chunk: int | None, files: dict[str, Path], planted: tuple[list[str], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:
        # Tiny reads: lines and binary records straddle block boundaries.
        monkeypatch.setattr(vectors._source, "CHUNK", chunk)
    words, matrix = planted
    base = name.removesuffix(".gz")
    for fmt in (None, FORMAT_OF[base]):
        got = parse(files[name], format=fmt)
        assert got.words == words
        assert got.vectors.dtype == np.float32 and got.vectors.flags.c_contiguous and got.vectors.flags.writeable
        assert np.array_equal(got.vectors, matrix)
        assert got.report["format"] == FORMAT_OF[base]
        assert got.report["count"] == N_WORDS and got.report["dim"] == 50
        assert got.report["compression"] == ("gzip" if name.endswith(".gz") else None)
        assert got.report["header_count"] == (None if base == "glove.txt" else N_WORDS)
        assert (got.report["duplicates"], got.report["replaced"], got.report["words_with_spaces"]) == (0, 0, 0)


@pytest.mark.parametrize("name", ALL_FILES)
def test_parity_with_gensim(name: str, files: dict[str, Path]) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    base = name.removesuffix(".gz")
    reference = gensim_models.KeyedVectors.load_word2vec_format(
        str(files[name]), binary=base == "w2v.bin", no_header=base == "glove.txt"
    )
    got = parse(files[name])
    assert got.words == list(reference.index_to_key)
    if base == "w2v.bin":
        assert np.array_equal(got.vectors, reference.vectors)
    else:
        np.testing.assert_allclose(got.vectors, reference.vectors, rtol=0, atol=1e-6)


def test_zip_member_by_name(files: dict[str, Path], planted: tuple[list[str], np.ndarray]) -> None:
    words, matrix = planted
    small = parse(files["glove.zip"], member="glove.50d.txt")
    big = parse(files["glove.zip"], member="glove.100d.txt")
    assert small.vectors.shape == (N_WORDS, 50) and big.vectors.shape == (N_WORDS, 100)
    assert small.words == words and np.array_equal(small.vectors, matrix)
    assert np.array_equal(big.vectors, _planted(100, seed=1)[1])
    assert (small.report["member"], small.report["compression"]) == ("glove.50d.txt", "zip")


def test_zip_needs_a_member_when_it_holds_several(files: dict[str, Path]) -> None:
    with pytest.raises(VectorsFormatError) as info:
        parse(files["glove.zip"])
    assert "glove.50d.txt" in str(info.value) and "glove.100d.txt" in str(info.value)
    assert "member=" in str(info.value)
    with pytest.raises(VectorsFormatError, match=r"no member 'glove\.300d\.txt'.*glove\.50d\.txt"):
        parse(files["glove.zip"], member="glove.300d.txt")


def test_zip_with_one_member_and_member_in_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glove/tiny.txt", "a 1 2\nb 3 4\n")
    assert parse(path).words == ["a", "b"]
    assert parse(path, member="tiny.txt").report["member"] == "glove/tiny.txt"
    with pytest.raises(VectorsFormatError, match="not a zip archive"):
        parse(_write(tmp_path, b"a 1 2\n"), member="tiny.txt")


# ---- edge cases real files have ----------------------------------------------------


def test_words_with_spaces_glove(tmp_path: Path) -> None:
    # GloVe 840B: the word is everything before the last `dim` fields.
    path = _write(tmp_path, b"the 1 2 3\nnew york 4 5 6\n. . . 7 8 9\nof 0 0 1\n")
    got = parse(path)
    assert got.words == ["the", "new york", ". . .", "of"]
    assert got.vectors.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 1]]
    assert got.report["words_with_spaces"] == 2


def test_words_with_spaces_dim_from_header(tmp_path: Path) -> None:
    # The very first word has spaces: the header gives the dimension.
    path = _write(tmp_path, b"2 2\nlos angeles 1 2\nparis 3 4\n")
    got = parse(path)
    assert got.words == ["los angeles", "paris"] and got.vectors.tolist() == [[1, 2], [3, 4]]
    assert got.report["words_with_spaces"] == 1


def test_non_utf8_words_are_replaced_and_counted(tmp_path: Path) -> None:
    text = _write(tmp_path, b"caf\xe9 1 2\nok 3 4\n\xff\xfe 5 6\n")
    got = parse(text)
    assert got.words == ["caf\ufffd", "ok", "\ufffd\ufffd"]
    assert got.report["replaced"] == 2 and got.report["warnings"]
    # Binary files cut multi-byte words too (word2vec.c truncates at a byte count).
    binary = _write(tmp_path, _binary([b"na\xc3", "fine"], np.eye(2, dtype=np.float32)), "v.bin")
    got = parse(binary)
    assert got.words == ["na\ufffd", "fine"] and got.report["replaced"] == 1
    assert np.array_equal(got.vectors, np.eye(2))


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_duplicate_words_keep_the_first(tmp_path: Path, binary: bool) -> None:
    words = ["the", "of", "the", "and", "of"]
    matrix = np.arange(10, dtype=np.float32).reshape(5, 2)
    data = _binary(words, matrix) if binary else _text(words, matrix, header=False)
    got = parse(_write(tmp_path, data))
    assert got.words == ["the", "of", "and"]
    assert got.vectors.tolist() == [[0, 1], [2, 3], [6, 7]]
    assert got.report["duplicates"] == 2 and got.report["records"] == 5 and got.report["count"] == 3


def test_wrong_number_of_values_names_the_line(tmp_path: Path) -> None:
    lines = [f"w{i} 1 2 3" for i in range(10)]
    lines[6] = "w6 1 2"  # line 7
    with pytest.raises(VectorsFormatError) as info:
        parse(_write(tmp_path, ("\n".join(lines) + "\n").encode()))
    message = str(info.value)
    assert re.search(r"\bline 7\b", message) and "expected 3" in message and "limit=6" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, ZooError)


def test_bad_number_names_the_line_counting_the_header(tmp_path: Path) -> None:
    lines = ["9 3", *(f"w{i} 1 2 3" for i in range(9))]
    lines[4] = "w3 1 x 3"  # file line 5
    with pytest.raises(VectorsFormatError) as info:
        parse(_write(tmp_path, ("\n".join(lines) + "\n").encode()))
    assert re.search(r"\bline 5\b", str(info.value)) and "'x' is not a number" in str(info.value)


def test_line_numbers_stay_right_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors._source, "CHUNK", 64)
    lines = [f"w{i} 0.5 0.25 0.125" for i in range(400)]
    lines[350] = "w350 0.5 0.25"
    lines.insert(10, "")  # empty lines count as lines
    with pytest.raises(VectorsFormatError) as info:
        parse(_write(tmp_path, ("\n".join(lines) + "\n").encode()))
    assert re.search(r"\bline 352\b", str(info.value))


def test_header_count_disagreeing_with_body(tmp_path: Path) -> None:
    matrix = np.ones((3, 2), dtype=np.float32)
    text = _write(tmp_path, b"5 2\na 1 1\nb 1 1\nc 1 1\n")
    got = parse(text)
    assert got.words == ["a", "b", "c"] and got.report["header_count"] == 5 and got.report["records"] == 3
    assert "header says 5" in got.report["warnings"][0]
    binary = _write(tmp_path, _binary(["a", "b", "c"], matrix, count=2), "v.bin")
    got = parse(binary)
    assert got.words == ["a", "b", "c"] and (got.report["header_count"], got.report["count"]) == (2, 3)


def test_empty_lines_at_the_end_and_crlf(tmp_path: Path, planted: tuple[list[str], np.ndarray]) -> None:
    words, matrix = planted
    data = _text(words[:50], matrix[:50], header=True)
    for variant in (data + b"\n\n  \n", data.replace(b"\n", b"\r\n"), data.replace(b"\n", b"\r\n") + b"\r\n\r\n"):
        got = parse(_write(tmp_path, variant))
        assert got.words == words[:50] and np.array_equal(got.vectors, matrix[:50])
    # word2vec.c writes a space after the last value.
    got = parse(_write(tmp_path, data.replace(b"\n", b" \n")))
    assert got.words == words[:50] and np.array_equal(got.vectors, matrix[:50])


def test_truncated_binary(tmp_path: Path) -> None:
    data = _binary(["alpha", "beta", "gamma"], np.ones((3, 4), dtype=np.float32))
    inside_vector = _write(tmp_path, data[:-5], "a.bin")
    with pytest.raises(VectorsFormatError, match=r"truncated.*record 3 \('gamma'\).*12 of its 16 bytes"):
        parse(inside_vector)
    inside_word = _write(tmp_path, data[: data.index(b"gamma") + 3], "b.bin")
    with pytest.raises(VectorsFormatError, match=r"truncated.*inside the word of record 3"):
        parse(inside_word)


def test_limit_stops_before_a_bad_line(tmp_path: Path) -> None:
    lines = [f"w{i} {i} 1" for i in range(600)]
    lines[500] = "w500 broken"  # line 501
    path = _write(tmp_path, ("\n".join(lines) + "\n").encode())
    with pytest.raises(VectorsFormatError, match=r"\bline 501\b"):
        parse(path)
    got = parse(path, limit=500)
    assert len(got.words) == 500 and got.words[-1] == "w499" and got.vectors[-1].tolist() == [499, 1]
    assert got.report["limited"] is True
    assert parse(path, limit=0).vectors.shape == (0, 2)


def test_limit_stops_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: tuple[list[str], np.ndarray]) -> None:
    # A gzip stream cut short raises only when read to its end: limit must stop before it.
    monkeypatch.setattr(vectors._source, "CHUNK", 4096)
    words, matrix = planted
    for data in (_text(words, matrix, header=True), _binary(words, matrix)):
        packed = gzip.compress(data)
        path = _write(tmp_path, packed[: len(packed) // 2], "cut.gz")
        with pytest.raises(VectorsFormatError, match="cut short"):
            parse(path)
        got = parse(path, limit=20)
        assert got.words == words[:20] and np.array_equal(got.vectors, matrix[:20])
        assert got.report["header_count"] == N_WORDS and not got.report["warnings"]


def test_format_mistakes_are_explained(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(VectorsFormatError, match=r"line 1 .*word2vec header"):
        parse(files["w2v.txt"], format="glove")
    with pytest.raises(VectorsFormatError, match=r"line 1 is not a word2vec header"):
        parse(files["glove.txt"], format="word2vec")
    with pytest.raises(VectorsFormatError, match=r"Unknown vectors format 'fasttext'"):
        parse(files["glove.txt"], format="fasttext")
    with pytest.raises(VectorsFormatError, match="empty"):
        parse(_write(tmp_path, b"\n\n"))


def test_pickles_are_refused_not_loaded(tmp_path: Path) -> None:
    path = _write(tmp_path, pickle.dumps({"not": "loaded"}), "word2vec.model")
    with pytest.raises(VectorsFormatError, match="pickle"):
        parse(path)


# ---- lookups -----------------------------------------------------------------------


def _brute_force(matrix: np.ndarray, words: list[str], query: np.ndarray, exclude: set[str], topn: int) -> list[tuple[str, float]]:
    m = matrix.astype(np.float64)
    unit = m / np.linalg.norm(m, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    order = [i for i in np.argsort(-scores, kind="stable") if words[i] not in exclude]
    return [(words[i], float(scores[i])) for i in order[:topn]]


def _same_ranking(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [w for w, _ in got] == [w for w, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5, rtol=0)


def test_most_similar_matches_brute_force(files: dict[str, Path], planted: tuple[list[str], np.ndarray]) -> None:
    words, matrix = planted
    kv = from_parsed(parse(files["w2v.bin"]))
    for word in ("king", "w00100", "w02990"):
        _same_ranking(kv.most_similar(word, topn=10), _brute_force(matrix, words, matrix[words.index(word)], {word}, 10))
    query = np.random.default_rng(7).standard_normal(50)
    _same_ranking(kv.most_similar(query, topn=25, exclude=["w00001"]), _brute_force(matrix, words, query, {"w00001"}, 25))
    assert len(kv.most_similar("king", topn=N_WORDS + 5)) == N_WORDS - 1


def test_planted_analogy_and_cluster(files: dict[str, Path]) -> None:
    kv = from_parsed(parse(files["glove.txt"]))
    analogy = kv["king"] - kv["man"] + kv["woman"]
    assert kv.most_similar(analogy, topn=1, exclude=["king", "man", "woman"])[0][0] == "queen"
    neighbours = kv.most_similar("happy", topn=len(SYNONYMS) - 1)
    assert {w for w, _ in neighbours} == set(SYNONYMS) - {"happy"}
    assert kv.similarity("glad", "joyful") > 0.9 > 0.3 > abs(kv.similarity("glad", "w00500"))


def test_lookups_and_unknown_words(files: dict[str, Path], planted: tuple[list[str], np.ndarray]) -> None:
    words, matrix = planted
    kv = from_parsed(parse(files["glove.txt"]))
    assert len(kv) == N_WORDS and kv.vector_size == 50 and "queen" in kv and "qveen" not in kv
    assert kv.index("queen") == 3 and np.array_equal(kv["queen"], matrix[3])
    with pytest.raises(KeyError, match=r"'kng' is not in the vocabulary.*Did you mean 'king'"):
        kv["kng"]
    assert kv.encode(["queen", "king", "w00010"]).tolist() == [3, 0, words.index("w00010")]
    assert kv.encode(["queen", "king"]).dtype == np.int64
    with pytest.raises(KeyError, match="'unicorn'"):
        kv.encode(["king", "unicorn", "queen"])
    assert kv.encode(["king", "unicorn", "queen"], unknown="skip").tolist() == [0, 3]
    assert kv.encode([], unknown="skip").dtype == np.int64


# ---- the cached form ---------------------------------------------------------------


def test_convert_and_load_round_trip(tmp_path: Path, files: dict[str, Path], planted: tuple[list[str], np.ndarray]) -> None:
    words, matrix = planted
    dest = convert(files["w2v.txt.gz"], tmp_path / "cached")
    assert dest == tmp_path / "cached"
    # Only the three files, none a pickle; no temporary folder left behind.
    assert sorted(p.name for p in dest.iterdir()) == ["report.json", "vectors.safetensors", "vocab.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["cached"]
    for path in dest.iterdir():
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and head[1:] in (b"\x02", b"\x03", b"\x04", b"\x05")), path
    assert (dest / "vocab.txt").read_text(encoding="utf-8") == "\n".join(words) + "\n"
    report = json.loads((dest / "report.json").read_text())
    assert (report["format"], report["count"], report["dim"], report["compression"]) == ("word2vec", N_WORDS, 50, "gzip")

    kv = KeyedVectors.load(dest)
    assert isinstance(kv.vectors, np.memmap) and not kv.vectors.flags.writeable
    assert kv.words == words and np.array_equal(kv.vectors, matrix)
    assert kv.report == report
    assert kv.most_similar("happy", topn=3) == from_parsed(parse(files["w2v.txt"])).most_similar("happy", topn=3)
    in_memory = KeyedVectors.load(dest, mmap=False)
    assert not isinstance(in_memory.vectors, np.memmap) and np.array_equal(in_memory.vectors, matrix)

    # The header we parse ourselves agrees with safetensors' own reader.
    from safetensors.numpy import load_file

    assert np.array_equal(load_file(str(dest / "vectors.safetensors"))["vectors"], kv.vectors)


def test_trimmed_is_a_view(tmp_path: Path, files: dict[str, Path]) -> None:
    kv = KeyedVectors.load(convert(files["glove.txt"], tmp_path / "cached"))
    kv.most_similar("king")
    small = kv.trimmed(100)
    assert len(small) == 100 and small.words == kv.words[:100]
    assert np.shares_memory(small.vectors, kv.vectors) and isinstance(small.vectors, np.memmap)
    assert "w00090" in small and "w00091" not in small and "w00091" in kv
    assert all(w in small.words for w, _ in small.most_similar("king", topn=5))


def test_convert_replaces_a_previous_conversion_only(tmp_path: Path, files: dict[str, Path]) -> None:
    dest = convert(files["glove.txt"], tmp_path / "cached", limit=10)
    assert len(KeyedVectors.load(dest)) == 10
    convert(files["glove.txt"], dest, limit=20)
    assert len(KeyedVectors.load(dest)) == 20 and sorted(p.name for p in tmp_path.iterdir()) == ["cached"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        convert(files["glove.txt"], other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_awkward_words_survive_the_round_trip(tmp_path: Path) -> None:
    # U+2028, U+0085, \r and \x0c are line breaks to str.splitlines, not to vocab.txt.
    words = ["a\u2028b", "c\x85d", "e\rf", "g\x0ch", "caf\ufffd", "new york"]
    data = b"".join(w.encode() + b" 1 2\n" for w in words[:-2]) + b"caf\xe9 1 2\nnew york 1 2\n"
    dest = convert(_write(tmp_path, data), tmp_path / "cached", format="glove")
    assert KeyedVectors.load(dest).words == words


def test_load_rejects_what_is_not_a_converted_folder(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(VectorsFormatError, match="convert"):
        KeyedVectors.load(files["glove.txt"])
    with pytest.raises(VectorsFormatError, match="no vectors.safetensors"):
        KeyedVectors.load(tmp_path)
    dest = convert(files["glove.txt"], tmp_path / "cached")
    (dest / "vocab.txt").write_text("only\nthree\nwords\n")
    with pytest.raises(VectorsFormatError, match="vocab.txt has 3 words"):
        KeyedVectors.load(dest)
