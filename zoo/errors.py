"""Every error zoo raises.

Each class sits under :class:`ZooError` and also inherits the builtin a caller
would naturally catch (``KeyError`` for unknown names, ``ValueError`` for bad
content, ``OSError`` for I/O), so ``except KeyError`` keeps working for code
that does not know about zoo.

Messages say what was wrong, where, and what to do next.
"""

from __future__ import annotations

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
    "DownloadError",
    "OfflineError",
    "ExportError",
    "ParityError",
    "StageNotFoundError",
    "StageMismatchError",
    "WeightsError",
    "MissingDependencyError",
    "VectorsFormatError",
    "UnknownWordError",
    "CaffeFormatError",
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


class ChecksumMismatchError(ZooError, ValueError):
    """A file's size or hash differs from what the registry pins."""


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
    """A file could not be fetched from any of its sources."""


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
