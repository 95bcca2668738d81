"""A mirror in an S3-compatible bucket, ``s3://bucket/prefix`` (s3fs; endpoint and credentials the usual AWS way).

An object appears whole or not at all (a multipart upload completes at once),
so blobs need no temporary name. A sync checks the bucket before it writes
anything: a missing bucket or refused credentials stop it with
:class:`~zoo.errors.MirrorError`, naming the bucket and what to check.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from zoo._layout import mirror_blob
from zoo.errors import MirrorError
from zoo.fetch import S3Location
from zoo.mirror._store import BLOBS, OnBytes


class S3Store:
    """A mirror under ``s3://bucket/prefix``."""

    def __init__(self, url: str):
        self.location = S3Location(url)
        self.where = self.location.url

    def _fail(self, exc: BaseException, what: str) -> MirrorError:
        error = self.location.error(exc, f"mirror {self.where}", what)
        return MirrorError(str(error), url=self.where, status=error.status, reason=error.reason)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MirrorError:
            raise
        except Exception as exc:  # noqa: BLE001 - s3fs/botocore errors, sorted by zoo.fetch's S3 classification
            raise self._fail(exc, what) from exc

    def prepare(self, writes: Sequence[str]) -> None:
        # ls of the bucket root asks the service (ListObjectsV2): a missing bucket or refused credentials fail here.
        self._call("listing the bucket", self.location.fs.ls, self.location.bucket, detail=False)

    def blob_sizes(self) -> dict[str, int]:
        fs = self.location.fs
        base = self.location.path(BLOBS)
        found = self._call("listing sha256/", fs.find, base, detail=True)
        return {
            name.rsplit("/", 1)[-1]: int(info["size"])
            for name, info in found.items()
            if info.get("type") == "file" and name.rsplit("/", 1)[0] == base
        }

    def put_blob(self, sha256: str, src: Path, on_bytes: OnBytes | None = None) -> None:
        fs = self.location.fs

        from fsspec.callbacks import Callback

        class _Progress(Callback):  # fsspec calls call() after each part with .value the bytes sent so far
            reported = 0

            def call(self, *args: Any, **kwargs: Any) -> None:
                if on_bytes is not None and self.value > self.reported:
                    on_bytes(self.value - self.reported)
                    self.reported = self.value

        progress = _Progress()
        self._call(f"uploading sha256/{sha256[:12]}…", fs.put_file, str(src), self.location.path(mirror_blob(sha256)),
                   callback=progress, chunksize=self.location.PART)

    def open_blob(self, sha256: str) -> BinaryIO:
        return self._call("reading", self.location.fs.open, self.location.path(mirror_blob(sha256)), "rb", block_size=self.location.READ_BLOCK)

    def read_text(self, rel: str) -> str | None:
        fs = self.location.fs
        try:
            data = fs.cat_file(self.location.path(rel))
        except FileNotFoundError as exc:
            if self.location.missing_key(exc):
                return None
            raise self._fail(exc, f"reading {rel}") from exc
        except Exception as exc:  # noqa: BLE001
            raise self._fail(exc, f"reading {rel}") from exc
        return data.decode("utf-8")

    def texts(self, folder: str, suffix: str) -> Iterator[tuple[str, str]]:
        fs = self.location.fs
        base = self.location.path(folder)
        names = self._call(f"listing {folder}/", fs.find, base)
        for name in sorted(names):
            if name.endswith(suffix) and name.rsplit("/", 1)[0] == base:
                yield name.rsplit("/", 1)[-1], self._call(f"reading {name}", fs.cat_file, name).decode("utf-8")

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._call(f"writing {rel}", self.location.fs.pipe_file, self.location.path(rel), data)
