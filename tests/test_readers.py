"""Dataset readers: image folders and text files, local and through fsspec URLs."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pytest
from PIL import Image
from sample_data import digits_folder

from zoo.datasets import (
    Dataset,
    Item,
    Skipped,
    load_image,
    read_dataset,
    read_images,
    read_texts,
)
from zoo.errors import DatasetError


def _png(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (4, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _only(ds: Dataset) -> Image.Image:
    (item,) = ds.items
    return load_image(item)


# --- image folders --------------------------------------------------------


def test_digits_image_folder(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = digits_folder(tmp_path / "digits", n=60)
    ds = read_dataset(root)

    assert ds.kind == "image" and ds.root == str(root) and len(ds) == 60
    assert ds.labels == [str(d) for d in range(10)]
    expected = sorted(f"{digits.target[i]}/{i:04d}.png" for i in range(60))
    assert [item.id for item in ds.items] == expected
    assert [item.id for item in read_dataset(root).items] == expected  # same order every run
    assert ds.skipped == []
    for item in ds.items:
        index = int(item.id.split("/")[1][:4])
        assert item.label == str(digits.target[index])
        assert item.path == (root / item.id).as_posix() and item.text is None
        image = load_image(item)
        assert image.mode == "RGB" and image.size == (32, 32)
        # Independent of the writer: scale by 16, clip, repeat each pixel 4x4.
        gray = np.minimum(digits.images[index] * 16, 255).astype(np.uint8).repeat(4, axis=0).repeat(4, axis=1)
        np.testing.assert_array_equal(np.asarray(image), np.stack([gray] * 3, axis=-1))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "photo.jpg", exif=exif, quality=95)

    loaded = _only(read_dataset(tmp_path))
    assert loaded.size == (20, 40)
    # Turned clockwise, the left half is on top.
    red, blue = loaded.getpixel((10, 5)), loaded.getpixel((10, 35))
    assert red[0] > 200 and red[2] < 60, red
    assert blue[2] > 200 and blue[0] < 60, blue


def test_grayscale_becomes_rgb(tmp_path: Path) -> None:
    _png(tmp_path / "g.png", Image.fromarray(np.array([[0, 77, 255]], dtype=np.uint8)))
    loaded = _only(read_dataset(tmp_path))
    assert loaded.mode == "RGB"
    assert [loaded.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (77, 77, 77), (255, 255, 255)]


def test_rgba_transparency_becomes_white(tmp_path: Path) -> None:
    pixels = np.array([[[10, 20, 30, 0], [200, 100, 50, 255]]], dtype=np.uint8)
    _png(tmp_path / "a.png", Image.fromarray(pixels))
    loaded = _only(read_dataset(tmp_path))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == (255, 255, 255)  # not black
    assert loaded.getpixel((1, 0)) == (200, 100, 50)


def test_palette_becomes_rgb_and_its_transparent_index_white(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    _png(tmp_path / "opaque" / "p.png", image)
    (tmp_path / "keyed").mkdir()
    image.save(tmp_path / "keyed" / "p.png", transparency=0)

    opaque = load_image(read_images(tmp_path / "opaque").items[0])
    keyed = load_image(read_images(tmp_path / "keyed").items[0])
    assert opaque.mode == keyed.mode == "RGB"
    assert [opaque.getpixel((x, 0)) for x in range(2)] == [(0, 0, 0), (255, 0, 0)]
    assert [keyed.getpixel((x, 0)) for x in range(2)] == [(255, 255, 255), (255, 0, 0)]


def test_16_bit_png_keeps_the_picture(tmp_path: Path) -> None:
    _png(tmp_path / "deep.png", Image.fromarray(np.array([[0, 257 * 100, 65535]], dtype=np.uint16)))
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")  # really 16-bit on disk
    loaded = _only(read_dataset(tmp_path))
    assert loaded.mode == "RGB"
    assert [loaded.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (100, 100, 100), (255, 255, 255)]


def test_corrupt_and_truncated_images_raise_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])

    ds = read_dataset(tmp_path)
    assert [item.id for item in ds.items] == ["cut.png", "noise.jpg"]  # listing does not decode
    for item in ds.items:
        with pytest.raises(DatasetError) as caught:
            load_image(item)
        assert isinstance(caught.value, ValueError)
        assert caught.value.path == item.path
        assert str(caught.value).startswith(f"{item.id}: cannot read image")
        ds.skip(item, str(caught.value))
    assert [s.id for s in ds.skipped] == ["cut.png", "noise.jpg"]
    assert len(ds) == 2


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _png(tmp_path / "big.png", Image.new("RGB", (32, 32)))
    ds = read_dataset(tmp_path)
    assert load_image(ds.items[0]).size == (32, 32)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1024 pixels is over twice the limit
    with pytest.raises(DatasetError, match="big.png: cannot read image"):
        load_image(ds.items[0])


def test_flat_folder_other_files_and_hidden_entries(tmp_path: Path) -> None:
    _png(tmp_path / "b.PNG", Image.new("RGB", (2, 2)))
    _png(tmp_path / "a.jpeg", Image.new("RGB", (2, 2)))
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "README").write_text("no extension")
    _png(tmp_path / ".hidden.png", Image.new("RGB", (2, 2)))
    _png(tmp_path / ".thumbs" / "x.png", Image.new("RGB", (2, 2)))  # a hidden folder is no label folder

    ds = read_dataset(tmp_path)
    assert [(item.id, item.label) for item in ds.items] == [("a.jpeg", None), ("b.PNG", None)]
    assert ds.labels == []
    assert ds.skipped == [
        Skipped("README", "not an image file (no extension)"),
        Skipped("notes.txt", "not an image file (.txt)"),
    ]


def test_image_folder_labels_come_from_top_folders(tmp_path: Path) -> None:
    _png(tmp_path / "dog" / "hounds" / "7.png", Image.new("RGB", (2, 2)))
    _png(tmp_path / "cat" / "1.gif", Image.new("RGB", (2, 2)))
    _png(tmp_path / "cat" / ".DS_Store.png", Image.new("RGB", (2, 2)))
    _png(tmp_path / "stray.png", Image.new("RGB", (2, 2)))
    (tmp_path / "cat" / "labels.csv").write_text("x")

    ds = read_dataset(tmp_path, kind="image")
    assert [(item.id, item.label) for item in ds.items] == [("cat/1.gif", "cat"), ("dog/hounds/7.png", "dog")]
    assert ds.labels == ["cat", "dog"]
    assert [s.id for s in ds.skipped] == ["cat/labels.csv", "stray.png"]
    assert "outside the label folders" in ds.skipped[1].reason


def test_symlinks_are_followed_only_inside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    _png(outside / "secret.png", Image.new("RGB", (2, 2)))
    _png(root / "cat" / "real.png", Image.new("RGB", (2, 2)))
    os.symlink(outside / "secret.png", root / "cat" / "leak.png")
    os.symlink(outside, root / "cat" / "leakdir")
    os.symlink(root / "cat" / "real.png", root / "cat" / "alias.png")
    os.symlink(root / "cat", root / "cat" / "loop")

    ds = read_dataset(root)
    assert [item.id for item in ds.items] == ["cat/alias.png", "cat/real.png"]
    assert {s.id: s.reason for s in ds.skipped} == {
        "cat/leak.png": "symlink to outside the dataset folder (not followed)",
        "cat/leakdir": "symlink to outside the dataset folder (not followed)",
        "cat/loop": "symlink loop (not followed)",
    }
    assert load_image(ds.items[0]).size == (2, 2)


def test_image_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="no image files") as caught:
        read_dataset(tmp_path / "empty")
    assert caught.value.path == str(tmp_path / "empty")

    with pytest.raises(DatasetError, match="no such file or folder; give an image folder") as caught:
        read_dataset(tmp_path / "nope")
    assert caught.value.path == str(tmp_path / "nope")

    (tmp_path / "t.txt").write_text("hello\n")
    with pytest.raises(DatasetError, match="is a file"):
        read_dataset(tmp_path / "t.txt", kind="image")
    with pytest.raises(DatasetError, match="is a folder"):
        read_dataset(tmp_path / "empty", kind="text")
    with pytest.raises(DatasetError, match="label_field apply to text files"):
        read_dataset(tmp_path / "empty", label_field="y")
    with pytest.raises(ValueError, match="kind must be"):
        read_dataset(tmp_path / "empty", kind="audio")


# --- text files -----------------------------------------------------------


def test_csv_fields_labels_ids_and_order(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('uid,body,stars\nz9,"Great, really",5\na1,,1\nm5,Meh,3\nb2,   ,2\n', encoding="utf-8")
    ds = read_dataset(path, text_field="body", label_field="stars", id_field="uid")

    assert ds.kind == "text" and ds.root == str(path)
    assert ds.items == [Item("z9", "5", None, "Great, really"), Item("m5", "3", None, "Meh")]  # file order, not id order
    assert ds.skipped == [Skipped("a1", "empty text"), Skipped("b2", "empty text")]
    assert ds.labels == ["3", "5"]


def test_tsv_and_row_number_ids(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\na, b\tx\n\ty\nc\tx\n", encoding="utf-8")
    ds = read_texts(path, label_field="label")
    assert [(item.id, item.text, item.label) for item in ds.items] == [("0", "a, b", "x"), ("2", "c", "x")]
    assert ds.skipped == [Skipped("1", "empty text")]


def test_missing_field_lists_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("body,stars\nhello,5\n", encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        read_dataset(path)
    assert caught.value.field == "text" and caught.value.path == str(path)
    assert "no field 'text'; the fields are 'body', 'stars'" in str(caught.value)
    with pytest.raises(DatasetError, match="no field 'label'") as caught:
        read_dataset(path, text_field="body", label_field="label")
    assert caught.value.field == "label"


def test_jsonl_labels_to_str_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"text": "one", "label": 1}, {"text": "two", "label": 0}, {"text": None, "label": 1}, {"text": "zwei", "label": 0}]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[2:]) + "\n")
    ds = read_dataset(path, label_field="label")
    assert [(item.id, item.text, item.label) for item in ds.items] == [("0", "one", "1"), ("1", "two", "0"), ("3", "zwei", "0")]
    assert ds.skipped == [Skipped("2", "empty text")]
    assert ds.labels == ["0", "1"]


def test_jsonl_malformed_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"text": "ok"}\n\n{"text": "broken"\n{"text": "after"}\n')
    with pytest.raises(DatasetError, match=r"bad.ndjson: line 3 is not valid JSON"):
        read_dataset(path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 7, "text": "a"}\n{"id": "7", "text": "b"}\n')
    with pytest.raises(DatasetError, match=r"id '7' is given twice \(line 1 and line 2\)") as caught:
        read_dataset(path, id_field="id")
    assert caught.value.field == "id"


def test_txt_one_text_a_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("first line\n\n  second  \r\nthird\n", encoding="utf-8")
    ds = read_dataset(path)
    assert [(item.id, item.text, item.label) for item in ds.items] == [
        ("0", "first line", None),
        ("1", "  second  ", None),
        ("2", "third", None),
    ]
    assert ds.labels == [] and ds.skipped == []
    with pytest.raises(DatasetError, match="no fields"):
        read_dataset(path, label_field="label")


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    table = pa.table({"doc": ["b", "a", "", "c"], "y": [2, 1, 1, 2], "key": ["k3", "k1", "k2", "k0"], "extra": [0.1] * 4})
    pq.write_table(table, path)
    ds = read_dataset(path, text_field="doc", label_field="y", id_field="key")
    assert ds.items == [Item("k3", "2", None, "b"), Item("k1", "1", None, "a"), Item("k0", "2", None, "c")]
    assert ds.skipped == [Skipped("k2", "empty text")]
    with pytest.raises(DatasetError, match="the fields are 'doc', 'y', 'key', 'extra'"):
        read_dataset(path)


def test_text_file_errors(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_bytes(b"PK")
    with pytest.raises(DatasetError, match=r"unsupported file type \.xlsx; .*\.parquet"):
        read_dataset(tmp_path / "d.xlsx")
    with pytest.raises(DatasetError, match="no such file or folder"):
        read_dataset(tmp_path / "missing.csv")
    (tmp_path / "latin.csv").write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_dataset(tmp_path / "latin.csv")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(DatasetError, match="no texts"):
        read_dataset(tmp_path / "blank.txt")


def test_text_file_over_2_gib_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.truncate((2 << 30) + 1)  # sparse: costs no disk; its zero bytes would be invalid JSON
    with pytest.raises(DatasetError, match="too big.*Parquet.*Ray") as caught:
        read_dataset(path)
    assert caught.value.path == str(path)


# --- fsspec URLs ----------------------------------------------------------


def test_file_urls(tmp_path: Path) -> None:
    root = digits_folder(tmp_path / "digits", n=12)
    url = "file://" + root.as_posix()
    ds = read_dataset(url)
    local = read_dataset(root)
    assert ds.root == url and len(ds) == 12
    assert [item.id for item in ds.items] == [item.id for item in local.items]
    assert ds.items[0].path == "file://" + (root / ds.items[0].id).as_posix()
    np.testing.assert_array_equal(np.asarray(load_image(ds.items[0])), np.asarray(load_image(local.items[0])))

    (tmp_path / "t.jsonl").write_text('{"text": "hi", "label": "a"}\n')
    assert read_dataset("file://" + (tmp_path / "t.jsonl").as_posix(), label_field="label").items == [
        Item("0", "a", None, "hi")
    ]


@pytest.fixture
def memory() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists("/readers"):
        fs.rm("/readers", recursive=True)


def test_memory_filesystem(memory: fsspec.AbstractFileSystem) -> None:
    memory.pipe("/readers/texts.jsonl", b'{"text": "alpha", "y": 1}\n{"text": "beta", "y": 2}\n')
    texts = read_dataset("memory://readers/texts.jsonl", label_field="y")
    assert [(item.text, item.label) for item in texts.items] == [("alpha", "1"), ("beta", "2")]

    memory.pipe("/readers/images/red/r.png", _png_bytes((255, 0, 0)))
    memory.pipe("/readers/images/blue/b.png", _png_bytes((0, 0, 255)))
    memory.pipe("/readers/images/blue/notes.md", b"x")
    images = read_dataset("memory://readers/images")
    assert [(item.id, item.label) for item in images.items] == [("blue/b.png", "blue"), ("red/r.png", "red")]
    assert images.items[0].path == "memory:///readers/images/blue/b.png"
    assert images.skipped == [Skipped("blue/notes.md", "not an image file (.md)")]
    loaded = load_image(images.items[1])
    assert loaded.size == (4, 3) and loaded.getpixel((0, 0)) == (255, 0, 0)


# --- batches --------------------------------------------------------------


def test_batches_keep_order(tmp_path: Path) -> None:
    path = tmp_path / "twenty.txt"
    path.write_text("".join(f"text {i}\n" for i in range(20)))
    ds = read_dataset(path)
    batches = list(ds.batches(7))
    assert [len(batch) for batch in batches] == [7, 7, 6]
    assert [item for batch in batches for item in batch] == ds.items
    assert [item.text for item in batches[2]] == [f"text {i}" for i in range(14, 20)]
    with pytest.raises(ValueError, match="positive"):
        ds.batches(0)
