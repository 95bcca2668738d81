"""Dataset readers for ``zoo embed``, ``zoo probe`` and calibrated exports: an image folder or a text file, as a list of items.

A dataset is one of:

- **A folder of images.** When sub-folders of the root hold images, it is an
  ImageFolder layout and the sub-folder is the label; otherwise it is a flat
  folder of unlabelled images::

      root/                        ImageFolder layout
      ├── cat/0001.jpg             id "cat/0001.jpg", label "cat"
      ├── dog/hounds/7.png         id "dog/hounds/7.png", label "dog" (found recursively)
      ├── dog/notes.txt            skipped: not an image file (.txt)
      └── .cache/                  hidden: ignored

  Items are sorted by id (the path relative to the root, posix form), so a
  folder gives the same order on every run.
- **A text file**: ``.csv``/``.tsv`` (a header row names the fields),
  ``.jsonl``/``.ndjson`` (one JSON object a line), ``.txt`` (one text a line, no
  labels) or ``.parquet`` (columns by name). Items keep the file's order; the id
  is the row number (0-based, blank lines not counted) or the ``id_field`` value.

Sources are local paths or fsspec URLs (``file://``, ``memory://``, ``s3://``...).
Reading a dataset lists it; pixels are decoded one item at a time by
:func:`load_image`, so a corrupt image costs one item (the caller records it with
:meth:`Dataset.skip`), not the run. On the local filesystem a symlink is followed
only when it resolves inside the dataset folder: reading a dataset never reads
outside it.
"""

from __future__ import annotations

import csv
import json
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from zoo.errors import DatasetError, InvalidOptionError, MissingDependencyError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from PIL import Image

__all__ = ["Dataset", "Item", "Skipped", "load_image", "open_fs", "read_dataset", "read_images", "read_texts"]

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_TEXT_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".txt", ".parquet")
# Text files are read whole into memory; past this, Parquet (read column by column) or Ray is the way.
_MAX_TEXT_BYTES = 2 << 30
_SUPPORTED = f"give an image folder or a {'/'.join(_TEXT_EXTENSIONS)} file"


@dataclass(frozen=True)
class Item:
    """One input of a dataset.

    Attributes:
        id: Stable id: the path relative to the dataset root in posix form
            (images), or the ``id_field`` value / row number (texts).
        label: The label (sub-folder name, or ``label_field`` value as str); None
            when unlabelled.
        path: Full path or URL of the image file; None for texts.
        text: The text; None for images.
    """

    id: str
    label: str | None
    path: str | None
    text: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An entry of a dataset that is not an item, and why (``"empty text"``, ``"not an image file (.txt)"``)."""

    id: str
    reason: str


@dataclass
class Dataset:
    """What :func:`read_dataset` returns.

    Attributes:
        kind: ``"image"`` or ``"text"``.
        root: The source, as given.
        items: The inputs: images sorted by id, texts in file order.
        labels: The sorted unique labels; ``[]`` when unlabelled.
        skipped: Entries that are not items, with the reason: what the reader
            left out, then what the caller recorded with :meth:`skip`.
    """

    kind: str
    root: str
    items: list[Item]
    skipped: list[Skipped] = field(default_factory=list)
    labels: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.labels = sorted({item.label for item in self.items if item.label is not None})

    def __len__(self) -> int:
        return len(self.items)

    def batches(self, size: int) -> Iterator[list[Item]]:
        """The items in order, ``size`` at a time (the last batch may be smaller).

        Raises:
            ValueError: ``size`` is less than 1.
        """
        if size < 1:
            raise InvalidOptionError(f"batch size must be a positive int, not {size!r}")
        return (self.items[start : start + size] for start in range(0, len(self.items), size))

    def skip(self, item: Item, reason: str) -> None:
        """Records that ``item`` could not be used (e.g. :func:`load_image` failed); it stays in ``items``."""
        self.skipped.append(Skipped(item.id, reason))


def open_fs(source: str | os.PathLike[str]) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem holding ``source``, and the path on it.

    Args:
        source: A local path, or a URL with a protocol (``file://``, ``memory://``, ``s3://``...).

    Returns:
        ``(filesystem, path)``; local paths are made absolute, in posix form.
    """
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem, make_path_posix

    text = os.fspath(source)
    if "://" in text:
        return url_to_fs(text)
    return LocalFileSystem(), make_path_posix(text)


def read_dataset(
    source: str | os.PathLike[str],
    *,
    text_field: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
    kind: str | None = None,
) -> Dataset:
    """Reads an image folder or a text file as a :class:`Dataset`.

    Args:
        source: An image folder, or a ``.csv``/``.tsv``/``.jsonl``/``.ndjson``/``.txt``/``.parquet``
            file; a local path or an fsspec URL.
        text_field: The field holding the text (texts; default ``"text"``).
        label_field: The field holding the label (texts; optional).
        id_field: The field holding a unique id (texts; default: the row number).
        kind: ``"image"`` or ``"text"``; None decides by the source (a folder holds images).

    Returns:
        The dataset, as :func:`read_images` or :func:`read_texts` reads it.

    Raises:
        DatasetError: The source is missing, unsupported or malformed, or does not
            match ``kind``.
        ValueError: ``kind`` is not ``"image"``, ``"text"`` or None.

    Example:
        >>> ds = read_dataset("photos/")  # doctest: +SKIP
        >>> ds.labels, len(ds)  # doctest: +SKIP
        (['cat', 'dog'], 1200)
    """
    if kind not in (None, "image", "text"):
        raise InvalidOptionError(f"kind must be 'image', 'text' or None (decided by the source), not {kind!r}")
    if kind is None:
        fs, path = open_fs(source)
        kind = "image" if fs.isdir(path) else "text"
    if kind == "text":
        return read_texts(source, text_field=text_field, label_field=label_field, id_field=id_field)
    fields = {"text_field": text_field, "label_field": label_field, "id_field": id_field}
    given = [name for name, value in fields.items() if value]
    if given:
        raise DatasetError(
            f"{os.fspath(source)}: {', '.join(given)} apply to text files; an image folder takes its labels "
            "from its sub-folders (root/<label>/...) and its ids from the file paths",
            path=os.fspath(source),
        )
    return read_images(source)


def read_images(source: str | os.PathLike[str]) -> Dataset:
    """Lists the images of a folder (ImageFolder layout or flat) as a :class:`Dataset`.

    Args:
        source: The folder; a local path or an fsspec URL.

    Returns:
        A dataset of kind ``"image"``, items sorted by id. Other files, images
        beside the label folders of an ImageFolder layout, and symlinks leading
        out of the folder are in ``skipped``; hidden entries are ignored.

    Raises:
        DatasetError: The folder is missing, is a file, or holds no images.
    """
    fs, top = open_fs(source)
    root = os.fspath(source)
    top = top.rstrip("/") or "/"
    if not fs.isdir(top):
        if fs.exists(top):
            raise DatasetError(
                f"{root}: is a file; an image dataset is a folder of images (ImageFolder layout: root/<label>/...)",
                path=root,
            )
        raise _missing(root)
    skipped: list[Skipped] = []
    found = _walk(fs, top, skipped)
    labelled = any("/" in id_ for id_, _ in found)
    items = []
    for id_, path in found:
        if labelled and "/" not in id_:
            skipped.append(Skipped(id_, "image outside the label folders of an ImageFolder layout (root/<label>/...)"))
            continue
        label = id_.split("/", 1)[0] if labelled else None
        items.append(Item(id_, label, fs.unstrip_protocol(path) if "://" in root else path))
    if not items:
        raise DatasetError(f"{root}: no image files ({', '.join(_IMAGE_EXTENSIONS)}) in the folder", path=root)
    return Dataset("image", root, sorted(items, key=lambda i: i.id), sorted(skipped, key=lambda s: s.id))


def _walk(fs: AbstractFileSystem, top: str, skipped: list[Skipped]) -> list[tuple[str, str]]:
    """``(id, path)`` of every image file under ``top``, recursively; other entries are recorded in ``skipped``."""
    from fsspec.implementations.local import LocalFileSystem

    local = isinstance(fs, LocalFileSystem)
    real_top = os.path.realpath(top) if local else top
    found = []
    # Each folder carries the real paths of itself and its parents: a symlink to one of them is a loop.
    pending: list[tuple[str, tuple[str, ...]]] = [(top, (real_top,))]
    while pending:
        folder, chain = pending.pop()
        for info in fs.ls(folder, detail=True):
            path = info["name"].rstrip("/")
            name = posixpath.basename(path)
            if name.startswith("."):
                continue
            id_ = path[len(top) :].lstrip("/")
            type_ = info["type"]
            # realpath costs a syscall per path component: only links and folders need it.
            real = os.path.realpath(path) if local and (info.get("islink") or type_ == "directory") else path
            if local and info.get("islink"):
                if os.path.commonpath([real_top, real]) != real_top:
                    skipped.append(Skipped(id_, "symlink to outside the dataset folder (not followed)"))
                    continue
                if real in chain:
                    skipped.append(Skipped(id_, "symlink loop (not followed)"))
                    continue
                type_ = "directory" if os.path.isdir(real) else "file" if os.path.isfile(real) else "other"
            if type_ == "directory":
                pending.append((path, (*chain, real)))
            elif type_ != "file":
                skipped.append(Skipped(id_, "not a regular file"))
            elif posixpath.splitext(name)[1].lower() in _IMAGE_EXTENSIONS:
                found.append((id_, path))
            else:
                skipped.append(Skipped(id_, f"not an image file ({posixpath.splitext(name)[1] or 'no extension'})"))
    return found


def load_image(item: Item) -> Image.Image:
    """Decodes an image item as RGB, EXIF orientation applied.

    Grayscale, palette and 16-bit images become RGB; transparent areas (RGBA,
    LA, palette or color-key transparency) are composited over white.

    Args:
        item: An item of an image dataset.

    Returns:
        The image, mode ``RGB``, fully loaded (the file is closed).

    Raises:
        DatasetError: The file is not an image, is truncated or corrupt, or is a
            decompression bomb (more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``
            allows); the caller records a :class:`Skipped` and goes on.
        MissingDependencyError: Pillow is not installed.
    """
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise MissingDependencyError("Reading images needs Pillow: pip install pillow (or zoo[torch]).") from None
    if item.path is None:
        raise DatasetError(f"{item.id}: is a text item; it has no image to load", path=None)
    fs, path = open_fs(item.path)
    try:
        with fs.open(path, "rb") as f, Image.open(f) as image:
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        # PIL names the file object in its messages ("<...LocalFileOpener object at 0x...>"): keep reasons stable.
        reason = re.sub(r"\s*<[^<>]* at 0x[0-9a-f]+>", "", str(exc)) or type(exc).__name__
        raise DatasetError(
            f"{item.id}: cannot read image ({reason}); it is skipped. Re-save the file as a standard image or remove it.",
            path=item.path,
        ) from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    from PIL import Image

    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        import numpy as np

        # convert() would clip 16-bit values at 255 (a white image); the high byte keeps the picture.
        image = Image.fromarray((np.clip(np.asarray(image), 0, 65535) >> 8).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def read_texts(
    source: str | os.PathLike[str],
    *,
    text_field: str | None = None,
    label_field: str | None = None,
    id_field: str | None = None,
) -> Dataset:
    """Reads a text file (one text per row) as a :class:`Dataset`.

    The first row (the CSV/TSV header, the first JSON line, the Parquet schema)
    names the fields.

    Args:
        source: A ``.csv``/``.tsv``/``.jsonl``/``.ndjson``/``.txt``/``.parquet`` file; a
            local path or an fsspec URL.
        text_field: The field holding the text; default ``"text"``. Not for ``.txt``.
        label_field: The field holding the label, converted to str (an empty value
            gives None); optional. Not for ``.txt``.
        id_field: The field holding a unique id, converted to str; default: the
            row number (0-based). Not for ``.txt``.

    Returns:
        A dataset of kind ``"text"``, items in file order; rows without text are
        in ``skipped`` (``"empty text"``).

    Raises:
        DatasetError: The file is missing, a folder, of an unsupported type,
            bigger than 2 GiB (but for Parquet), not UTF-8, malformed (the message
            names the line), lacks a field (the message lists those it has), has a
            row without id or an id twice, or holds no text.
        MissingDependencyError: A ``.parquet`` file and pyarrow is not installed.
    """
    fs, path = open_fs(source)
    root = os.fspath(source)
    if fs.isdir(path):
        raise DatasetError(f"{root}: is a folder; texts are read from a {'/'.join(_TEXT_EXTENSIONS)} file", path=root)
    if not fs.isfile(path):
        raise _missing(root)
    ext = posixpath.splitext(path)[1].lower()
    if ext not in _TEXT_EXTENSIONS:
        raise DatasetError(f"{root}: unsupported file type {ext or '(no extension)'}; {_SUPPORTED}", path=root)
    if ext == ".txt":
        if text_field or label_field or id_field:
            raise DatasetError(
                f"{root}: a .txt file holds one text a line and no fields; for labels or ids use .csv, .jsonl or .parquet",
                path=root,
            )
    elif ext != ".parquet" and (size := fs.size(path)) > _MAX_TEXT_BYTES:
        raise DatasetError(
            f"{root}: {size / 2**30:.1f} GiB is too big to read as one text file (limit 2 GiB); "
            "convert it to Parquet, or embed it with the Ray engine",
            path=root,
        )
    fields = (text_field or "text", label_field, id_field)
    if ext == ".parquet":
        return _texts(root, _parquet_rows(fs, path, root, fields), *fields)
    with fs.open(path, "r", encoding="utf-8-sig", newline="" if ext in (".csv", ".tsv") else None) as f:
        if ext == ".txt":
            rows = _txt_rows(f)
        elif ext in (".jsonl", ".ndjson"):
            rows = _json_rows(f, root)
        else:
            rows = _csv_rows(f, root, "\t" if ext == ".tsv" else ",")
        try:
            return _texts(root, rows, *fields)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{root}: is not UTF-8 text ({exc.reason}); save it as UTF-8", path=root) from None


def _texts(
    root: str, rows: Iterable[tuple[str, dict[Any, Any]]], text_field: str, label_field: str | None, id_field: str | None
) -> Dataset:
    """Builds the dataset from ``(where, row)`` pairs (``where`` names the row in messages: ``line 3``)."""
    items, skipped, where_of = [], [], {}
    for index, (where, row) in enumerate(rows):
        if index == 0:
            _check_fields(root, [key for key in row if isinstance(key, str)], (text_field, label_field, id_field))
        if id_field is None:
            id_ = str(index)
        else:
            value = row.get(id_field)
            if value is None or value == "":
                raise DatasetError(f"{root}: {where} has no {id_field!r}; every row needs an id", path=root, field=id_field)
            id_ = str(value)
            if id_ in where_of:
                raise DatasetError(
                    f"{root}: id {id_!r} is given twice ({where_of[id_]} and {where}); ids must be unique",
                    path=root,
                    field=id_field,
                )
            where_of[id_] = where
        text = row.get(text_field)
        text = "" if text is None else str(text)
        if not text.strip():
            skipped.append(Skipped(id_, "empty text"))
            continue
        label = row.get(label_field) if label_field else None
        items.append(Item(id_, None if label is None or label == "" else str(label), None, text))
    if not items:
        detail = f" ({len(skipped)} rows with empty text)" if skipped else ""
        raise DatasetError(f"{root}: no texts in the file{detail}", path=root)
    return Dataset("text", root, items, skipped)


def _check_fields(root: str, available: list[str], wanted: tuple[str | None, ...]) -> None:
    for name in wanted:
        if name is not None and name not in available:
            raise DatasetError(
                f"{root}: no field {name!r}; the fields are {', '.join(map(repr, available)) or '(none)'}. "
                "Name the one to use.",
                path=root,
                field=name,
            )


def _txt_rows(f: TextIO) -> Iterator[tuple[str, dict[str, str]]]:
    for number, line in enumerate(f, 1):
        if line.strip():
            yield f"line {number}", {"text": line.rstrip("\r\n")}


def _json_rows(f: TextIO, root: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{root}: line {number} is not valid JSON ({exc.msg}); fix or remove it", path=root) from None
        if not isinstance(row, dict):
            raise DatasetError(f"{root}: line {number} is not a JSON object ({{\"text\": ...}})", path=root)
        yield f"line {number}", row


def _csv_rows(f: TextIO, root: str, delimiter: str) -> Iterator[tuple[str, dict[Any, Any]]]:
    reader = csv.DictReader(f, delimiter=delimiter)
    try:
        for row in reader:
            yield f"line {reader.line_num}", row
    except csv.Error as exc:
        raise DatasetError(f"{root}: line {reader.line_num}: {exc}", path=root) from None


def _parquet_rows(
    fs: AbstractFileSystem, path: str, root: str, wanted: tuple[str | None, ...]
) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("Reading .parquet files needs pyarrow: pip install pyarrow.") from None
    with fs.open(path, "rb") as f:
        try:
            parquet = pq.ParquetFile(f)
            _check_fields(root, parquet.schema_arrow.names, wanted)
            table = parquet.read(columns=list(dict.fromkeys(name for name in wanted if name)))
        except pa.ArrowException as exc:
            raise DatasetError(f"{root}: not a readable Parquet file ({exc})", path=root) from None
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for index in range(table.num_rows):
        yield f"row {index}", {name: values[index] for name, values in columns.items()}


def _missing(root: str) -> DatasetError:
    return DatasetError(f"{root}: no such file or folder; {_SUPPORTED}", path=root)
