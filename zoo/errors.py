"""Every error zoo raises.

Each class sits under :class:`ZooError` and also inherits the builtin a caller
would naturally catch (``KeyError`` for unknown names, ``ValueError`` for bad
content, ``OSError`` for I/O), so ``except KeyError`` keeps working for code
that does not know about zoo.

Messages say what was wrong, where, and what to do next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = [
    "ZooError",
    "ModelNotFoundError",
    "VersionNotFoundError",
    "InvalidModelIdError",
    "RegistryError",
    "RegistryIssue",
    "NotCachedError",
    "ChecksumMismatchError",
    "UnpinnedFileError",
    "SourceAttempt",
    "DownloadError",
    "OfflineError",
    "MirrorError",
    "InvalidOptionError",
    "UnsupportedModelError",
    "RemoteCodeError",
    "ExportError",
    "ParityError",
    "AccuracyGateError",
    "StageNotFoundError",
    "StageMismatchError",
    "WeightsError",
    "DatasetError",
    "MissingDependencyError",
    "VectorsFormatError",
    "UnknownWordError",
    "CaffeFormatError",
    "OnnxFormatError",
    "UnsafeFileError",
    "FolderImportError",
    "InsufficientSpaceError",
    "LockTimeoutError",
]


class ZooError(Exception):
    """Root of every error raised by zoo."""

    def __str__(self) -> str:
        # KeyError quotes its message; ours are sentences meant to be read as-is.
        return str(self.args[0]) if self.args else ""


class ModelNotFoundError(ZooError, KeyError):
    """A model id names no model in the registry.

    Attributes:
        name: The name that was asked for.
        suggestions: The closest known names, best first.
    """

    def __init__(self, name: str, suggestions: list[str] | tuple[str, ...] = ()):
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = (
            f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else ""
        )
        super().__init__(
            f"No model named {name!r} in the registry.{hint} "
            "Run 'zoo list' or 'zoo search TEXT' to see what is available."
        )


class VersionNotFoundError(ZooError, KeyError):
    """A model exists but has no version by the requested name."""

    def __init__(self, name: str, version: str, available: list[str] | tuple[str, ...]):
        self.name = name
        self.version = version
        self.available = tuple(available)
        super().__init__(
            f"Model {name!r} has no version {version!r}. "
            f"Available versions: {', '.join(self.available)}. "
            f"Use '{name}@<version>' with one of them, or '{name}' for the default."
        )


class InvalidModelIdError(ZooError, ValueError):
    """A string is not a well-formed ``[family/]name[@version]`` id."""


class InvalidOptionError(ZooError, ValueError):
    """An argument or option the caller gave has a value zoo cannot use (a size, a batch, a limit, a source...).

    The message names the value and says what would be accepted. The CLI
    exits with 2 (bad input) for it, as for a malformed model id.
    """


class UnsupportedModelError(InvalidOptionError):
    """A model zoo cannot run as its publisher defines it; refused before anything runs (the CLI exits 2).

    Raised, for example, for a sentence-transformers folder whose ``modules.json``
    lists a module zoo does not reproduce (``Dense``, ``LayerNorm``...), since
    the vectors would silently differ from the publisher's.

    Attributes:
        model: The model version (``name@version``).
        reason: A stable code: ``remote-code``, ``sentence-module``, ``sentence-config``.
        file: The file that says so (``modules.json``, ``config.json``...), when there is one.
    """

    def __init__(self, message: str, *, model: str | None = None, reason: str | None = None, file: str | None = None):
        self.model = model
        self.reason = reason
        self.file = file
        super().__init__(message)


class RemoteCodeError(UnsupportedModelError):
    """A model needs its publisher's Python code (``auto_map`` in a pinned config, or ``requires: [remote-code]``).

    zoo never runs code that comes with a model (``trust_remote_code`` is
    always False), so such a model is refused before transformers is imported
    or anything is downloaded or run. ``reason`` is ``remote-code``; ``file`` is
    the config that names the code (None when the registry says so).
    """

    def __init__(self, message: str, *, model: str | None = None, file: str | None = None):
        super().__init__(message, model=model, reason="remote-code", file=file)


class RegistryIssue:
    """One problem found in a registry file.

    Attributes:
        file: The file the problem is in.
        location: Dotted path inside the file, e.g.
            ``models.resnet50.versions.a1_in1k.files[0].sha256``; empty for
            problems with the file as a whole.
        message: What is wrong and what to do about it.
        code: A stable machine-readable code (``sha256_format``,
            ``extra_forbidden``, ``duplicate_name``, ...).
    """

    __slots__ = ("file", "location", "message", "code")

    def __init__(self, file: str, location: str, message: str, code: str):
        self.file = file
        self.location = location
        self.message = message
        self.code = code

    def __str__(self) -> str:
        where = f"{self.file}: {self.location}" if self.location else self.file
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"RegistryIssue({str(self)!r}, code={self.code!r})"

    def to_dict(self) -> dict[str, str]:
        """Returns the issue as a JSON-ready dict."""
        return {
            "file": self.file,
            "location": self.location,
            "message": self.message,
            "code": self.code,
        }


class RegistryError(ZooError, ValueError):
    """One or more registry files are malformed.

    Attributes:
        issues: Every problem found, each with file, location and message.
    """

    def __init__(self, issues: list[RegistryIssue]):
        self.issues = list(issues)
        if len(self.issues) == 1:
            text = f"Invalid registry: {self.issues[0]}"
        else:
            lines = "\n".join(f"  {issue}" for issue in self.issues)
            text = f"Invalid registry, {len(self.issues)} problems:\n{lines}"
        super().__init__(text)


class NotCachedError(ZooError, KeyError):
    """A model version asked for is not in the cache."""


@dataclasses.dataclass(frozen=True)
class SourceAttempt:
    """What happened at one source a pull tried for a file.

    Attributes:
        kind: ``shared`` (the shared cache), ``mirror``, or the origin's kind: ``hf``, ``url`` or ``pypi``.
        where: The mirror (URL or folder) or the origin (``hf:org/repo``,
            the URL, ``pypi:package==version``).
        error: The class name of the error it raised (``ChecksumMismatchError``,
            ``DownloadError``...), or None when the source was skipped or
            simply did not have the file.
        message: What happened there, in a few words (``sha256 mismatch
            (expected 7735…, got 1f2a…)``, ``cannot reach huggingface.co
            (name does not resolve; no network?)``, ``not there (HTTP 404)``).
        status: The HTTP status the source answered with, when that was the problem.
    """

    kind: str
    where: str
    error: str | None
    message: str
    status: int | None = None

    def __str__(self) -> str:
        role = {"mirror": "mirror", "shared": "shared cache"}.get(self.kind, "origin")
        return f"{role} {self.where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """Returns the attempt as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _attempts_text(attempts: Sequence[SourceAttempt]) -> str:
    return "\n".join(f"  {attempt}" for attempt in attempts)


class ChecksumMismatchError(ZooError, ValueError):
    """A file's size or hash differs from what the registry pins.

    Raised by a pull when every source that answered served other bytes than
    pinned (or a single origin did): nothing would come of trying again. When
    some other source failed for another reason (unreachable, HTTP error) the
    pull raises :class:`DownloadError` instead, whose ``attempts`` list the
    mismatches too: trying again later may succeed there.

    Attributes:
        path: The file's registry path (``model.safetensors``), set by a
            pull; None where it is not known (``Cache`` checks, a bare
            ``zoo.fetch`` call).
        algorithm: What did not match: ``size``, ``sha256``, ``sha384``,
            ``md5``, ``sha1``, ``git-blob`` or ``sha256_prefix``.
        expected: The pinned value (a hex digest, or a byte count for ``size``).
        actual: What was found (for bytes beyond a pinned size: how many had
            arrived when the download was stopped).
        reason: The mismatch in a few words, without the file's name.
        attempts: For a pull, every source tried and what happened there
            (:class:`SourceAttempt`), in order; empty otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        algorithm: str | None = None,
        expected: str | int | None = None,
        actual: str | int | None = None,
        reason: str | None = None,
        attempts: Sequence[SourceAttempt] = (),
    ):
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.reason = reason
        self.attempts = tuple(attempts)
        super().__init__(message)

    @classmethod
    def from_attempts(
        cls, label: str, attempts: Sequence[SourceAttempt], last: ChecksumMismatchError
    ) -> ChecksumMismatchError:
        """The summary of a pull whose sources served wrong bytes or none (fields from the ``last`` mismatch)."""
        return cls(
            f"{label}: no source served the pinned bytes; nothing was cached:\n{_attempts_text(attempts)}",
            path=last.path,
            algorithm=last.algorithm,
            expected=last.expected,
            actual=last.actual,
            reason=last.reason,
            attempts=attempts,
        )


class UnpinnedFileError(ZooError, ValueError):
    """A pull that requires pinned files (``--require-pinned``) met a file without a strong pin.

    A file is pinned when the registry gives its sha256 or sha384, or a lock
    file gives its sha256. Nothing was downloaded.

    Attributes:
        model: The model version (``name@version``).
        path: The file's registry path.
        tier: Its verification tier (``prefix``, ``hub``, ``md5``, ``sha1``).
    """

    def __init__(self, model: str, path: str, tier: str):
        self.model = model
        self.path = path
        self.tier = tier
        name = model.split("@", 1)[0]
        super().__init__(
            f"{model}: {path} is not pinned (verification tier '{tier}': no sha256 or sha384 in the registry) and "
            f"pinned files are required (--require-pinned / ZOO_REQUIRE_PINNED); nothing was downloaded. To pin it, "
            f"run 'zoo registry lock {name} -o zoo.lock' once (it records the sha256 after a verified pull) and "
            "pull with 'zoo pull --lock zoo.lock'."
        )


class DownloadError(ZooError, OSError):
    """A file could not be fetched from any of its sources.

    A pull that tried more than one source (mirrors, then the origin) says
    what happened at each, pip-style::

        resnet50@a1_in1k: model.safetensors: no source could provide it:
          mirror https://127.0.0.1:8443/zoo: sha256 mismatch (expected 7735…, got 1f2a…)
          origin hf:timm/resnet50.a1_in1k: cannot reach 127.0.0.1:9 (connection refused)

    Callers decide on the fields, never on the message.

    Attributes:
        url: The URL that failed (None when the failure is not about one).
        status: The HTTP status that made it fail (404, 500 after the last
            retry...); None for connection failures and other problems.
        source: The kind of source: ``url``, ``hf``, ``pypi`` or ``mirror``
            (None for a pull's summary of several sources).
        reason: What went wrong, in a few words, without the file's name.
        attempts: For a pull, every source tried and what happened there
            (:class:`SourceAttempt`), in order; empty otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        source: str | None = None,
        reason: str | None = None,
        attempts: Sequence[SourceAttempt] = (),
    ):
        self.url = url
        self.status = status
        self.source = source
        self.reason = reason
        self.attempts = tuple(attempts)
        super().__init__(message)

    @classmethod
    def from_attempts(cls, label: str, attempts: Sequence[SourceAttempt]) -> DownloadError:
        """The summary of a pull that no source could serve: one line per source tried."""
        return cls(f"{label}: no source could provide it:\n{_attempts_text(attempts)}", attempts=attempts)


class MirrorError(ZooError, OSError):
    """A mirror could not be written or read as a whole (``zoo mirror sync|verify``): a missing bucket, refused credentials.

    Attributes:
        url: The mirror (``s3://bucket/prefix`` or a folder).
        status: The service's HTTP status (404 for a missing bucket, 403 for refused credentials), if any.
        reason: What went wrong, in a few words.
    """

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None, reason: str | None = None):
        self.url = url
        self.status = status
        self.reason = reason
        super().__init__(message)


class OfflineError(DownloadError):
    """Offline mode is on and a needed file is not in the cache."""


class StageNotFoundError(ZooError, KeyError):
    """A stage name (``until=``) is not a cut point of the model's architecture.

    Attributes:
        model: The model version (``name@version``).
        stage: The name that was asked for.
        valid: The main stages of the architecture, input first.
        closest: The valid names closest to ``stage`` (any accepted name, not
            only the main ones), best first.
    """

    def __init__(
        self, model: str, stage: str, valid: list[str] | tuple[str, ...], closest: list[str] | tuple[str, ...] = ()
    ):
        self.model = model
        self.stage = stage
        self.valid = tuple(valid)
        self.closest = tuple(closest)
        hint = f" Closest: {', '.join(self.closest)}." if self.closest else ""
        listed = f"Main stages: {', '.join(self.valid)}." if self.valid else "The architecture has no stages to cut at."
        super().__init__(
            f"{model} has no stage {stage!r}.{hint} {listed} "
            f"'zoo stages {model}' lists them with channels and stride."
        )


class StageMismatchError(ZooError, ValueError):
    """A registry ``stages:`` entry disagrees with the stages derived from the architecture.

    Attributes:
        model: The model version.
        stage: The stage name the registry lists.
        field: ``name`` (no such stage), ``channels`` or ``stride``.
        declared: What the registry says.
        derived: What the architecture has (None when the stage does not exist).
    """

    def __init__(self, model: str, stage: str, field: str, declared: object, derived: object, closest: tuple[str, ...] = ()):
        self.model = model
        self.stage = stage
        self.field = field
        self.declared = declared
        self.derived = derived
        if field == "name":
            hint = f" (closest: {', '.join(closest)})" if closest else ""
            what = f"lists stage {stage!r}, which the architecture does not have{hint}"
        else:
            what = f"says stage {stage!r} has {field} {declared}, the architecture has {field} {derived}"
        super().__init__(
            f"{model}: the registry {what}. Fix or remove the registry's stages: entry "
            f"(it is documentation; 'zoo stages {model}' shows the derived stages)."
        )


class WeightsError(ZooError, ValueError):
    """A weights file cannot be loaded safely or does not fit the architecture."""


class DatasetError(ZooError, ValueError):
    """A dataset (an image folder or a text file) is missing, unsupported or malformed.

    Attributes:
        path: The folder, file or image at fault, as the caller named it (None
            when the error is not about one).
        field: The column or key at fault (``text_field``, ``id_field``...), when
            there is one.
    """

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path = path
        self.field = field
        super().__init__(message)


class MissingDependencyError(ZooError, ImportError):
    """An optional dependency (torch, timm, transformers, onnx...) is not installed."""


class VectorsFormatError(ZooError, ValueError):
    """A word-vector file is malformed (the message gives the line number)."""


class UnknownWordError(ZooError, KeyError):
    """A word is not in a word-vector model's vocabulary."""


class CaffeFormatError(ZooError, ValueError):
    """A Caffe model folder, prototxt or caffemodel is malformed or inconsistent."""


class ExportError(ZooError, RuntimeError):
    """A model could not be exported."""


class ParityError(ExportError, ValueError):
    """An exported model's outputs differ from its reference (torch) beyond tolerance.

    Attributes:
        model: The model version (None when raised outside an export).
        stage: The cut, as in messages (``layer3``, ``layer2,layer3``).
        parity: The :class:`zoo.exporter.Parity` figures, when measured.
    """

    def __init__(self, message: str, *, model: str | None = None, stage: str | None = None, parity: object = None):
        self.model = model
        self.stage = stage
        self.parity = parity
        super().__init__(message)


class OnnxFormatError(ZooError, ValueError):
    """An ONNX file is malformed: unreadable protobuf, a graph with a cycle, an undefined input.

    Attributes:
        path: The file.
        reason: What is wrong, in a few words (``cycle``, ``not a model``...).
    """

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None):
        self.path = path
        self.reason = reason
        super().__init__(message)


class UnsafeFileError(ZooError, ValueError):
    """A file or folder was refused before it was read: it would reach outside where it belongs or is too big.

    Raised for archive members with absolute or ``..`` paths, symlinks pointing
    out of an imported or mirror folder, ONNX external data whose ``location``
    escapes the model's folder, and declared sizes beyond zoo's limits.

    Attributes:
        path: The file, member or link at fault.
        reason: One of ``absolute-path``, ``path-escape``, ``symlink``, ``too-large``.
        target: Where it pointed (a link's target, an external-data location), when there is one.
        limit: For ``too-large``: the limit in bytes; ``size`` the declared size.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        reason: str | None = None,
        target: str | None = None,
        size: int | None = None,
        limit: int | None = None,
    ):
        self.path = path
        self.reason = reason
        self.target = target
        self.size = size
        self.limit = limit
        super().__init__(message)


class FolderImportError(ZooError, ValueError):
    """``zoo registry import-folder`` refused a model folder: nothing was hashed into an entry, nothing written.

    Attributes:
        path: The file (or folder) at fault.
        reason: One of ``pickle`` (weights zoo would have to unpickle, with no
            safetensors alternative), ``remote-code`` (``auto_map`` or a custom
            sentence-transformers module: the model needs its publisher's code),
            ``python-file`` (a ``*.py`` in the folder), ``symlink`` (a link leading
            out of the folder), ``layout`` (not a layout zoo recognises),
            ``malformed`` (a config or safetensors header zoo cannot read),
            ``too-large`` (a config or header over zoo's limit).
    """

    REASONS = ("pickle", "remote-code", "python-file", "symlink", "layout", "malformed", "too-large")

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None):
        self.path = path
        self.reason = reason
        super().__init__(message)


class InsufficientSpaceError(ZooError, OSError):
    """The file system holding the cache (or an output) has not enough free space.

    Nothing half-written is left where it would be trusted; an interrupted
    download keeps its ``.partial`` file so the next pull resumes it.

    Attributes:
        path: The folder that is full.
        needed: Bytes still to be written (None when unknown).
        free: Bytes free there when it was checked.
    """

    def __init__(self, message: str, *, path: str | None = None, needed: int | None = None, free: int | None = None):
        self.path = path
        self.needed = needed
        self.free = free
        super().__init__(message)


class LockTimeoutError(ZooError, TimeoutError):
    """A lock held by another process was not released in time.

    Attributes:
        path: The lock file.
        holder: What the holder recorded about itself (``pid``, ``host``,
            ``command``, ``since``), or None when it recorded nothing.
        waited: Seconds waited.
    """

    def __init__(self, message: str, *, path: str | None = None, holder: dict[str, object] | None = None, waited: float = 0.0):
        self.path = path
        self.holder = holder
        self.waited = waited
        super().__init__(message)


class AccuracyGateError(ExportError, ValueError):
    """An int8 or fp16 export's features drift from the float32 reference beyond the gate's bounds.

    Attributes:
        model: The model version; stage: the cut, as in messages.
        gate: The :class:`zoo.exporter.Gate` figures (mean and worst cosine,
            max relative error, top-1 agreement, the bounds).
    """

    def __init__(self, message: str, *, model: str | None = None, stage: str | None = None, gate: object = None):
        self.model = model
        self.stage = stage
        self.gate = gate
        super().__init__(message)
