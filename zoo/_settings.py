"""Settings read from the environment, in one place.

Every value is read when it is used, never at import, so a test or a long-lived
process can change the environment and see the effect.

| variable       | meaning                                                  |
|----------------|----------------------------------------------------------|
| ``ZOO_HOME``   | cache root (default: the platform's user cache dir)      |
| ``ZOO_OFFLINE``| ``1``/``true``/``yes``: never touch the network          |
| ``ZOO_REGISTRY``| extra registry files or folders, ``os.pathsep``-separated|
| ``ZOO_MIRROR`` | mirrors tried before the origin, comma-separated         |
| ``ZOO_SHARED_CACHE``| a read-only ZOO_HOME tried first (verified copies; never written)|
| ``ZOO_CONNECTIONS``| parallel Range streams for files of 64 MiB or more (default 1)|
| ``ZOO_PYPI_URL``| PyPI JSON API base for ``pypi`` sources (default pypi.org)|
| ``ZOO_REQUIRE_PINNED``| ``1``: pull only files pinned by sha256/sha384 or a lock |
| ``ZOO_LOCK_TIMEOUT``| seconds to wait for a lock another process holds (default: for ever)|
| ``ZOO_LOCKS``  | ``soft``: marker-file locks instead of ``flock`` (file systems without it)|
| ``ZOO_MAX_ONNX_BYTES``| most tensor bytes an ONNX file zoo did not write may declare (default 8 GiB)|
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home", "offline", "require_pinned", "lock_timeout", "soft_locks", "extra_registries", "mirrors", "shared_cache", "connections", "pypi_url", "shipped_registry", "max_onnx_bytes"]

_TRUE = {"1", "true", "yes", "on"}


def home() -> Path:
    """Returns the cache root: ``$ZOO_HOME`` or the platform cache folder."""
    value = os.environ.get("ZOO_HOME")
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("zoo", appauthor=False))


def offline() -> bool:
    """Returns True when ``ZOO_OFFLINE`` asks zoo never to use the network."""
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in _TRUE


def require_pinned() -> bool:
    """Returns True when ``ZOO_REQUIRE_PINNED`` asks pulls to refuse files without a strong pin (like pip's --require-hashes)."""
    return os.environ.get("ZOO_REQUIRE_PINNED", "").strip().lower() in _TRUE


def lock_timeout() -> float:
    """Seconds a lock held by another process is waited for (``ZOO_LOCK_TIMEOUT``; -1, the default, waits for ever)."""
    value = os.environ.get("ZOO_LOCK_TIMEOUT", "").strip()
    try:
        return float(value) if value else -1.0
    except ValueError:
        return -1.0


def soft_locks() -> bool:
    """True when ``ZOO_LOCKS=soft`` asks for marker-file locks instead of ``flock``."""
    return os.environ.get("ZOO_LOCKS", "").strip().lower() == "soft"


def extra_registries() -> list[Path]:
    """Returns the extra registry paths listed in ``ZOO_REGISTRY``."""
    value = os.environ.get("ZOO_REGISTRY", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def mirrors() -> list[str]:
    """Returns the mirrors listed in ``ZOO_MIRROR`` (URLs or folders)."""
    value = os.environ.get("ZOO_MIRROR", "")
    return [m.strip() for m in value.split(",") if m.strip()]


def shared_cache() -> Path | None:
    """Returns the read-only shared cache tier (``$ZOO_SHARED_CACHE``: another ZOO_HOME, e.g. on NFS), or None.

    Pulls take verified copies of its blobs before asking any mirror or origin; nothing is ever written there.
    """
    value = os.environ.get("ZOO_SHARED_CACHE", "").strip()
    return Path(value).expanduser() if value else None


def connections() -> int:
    """Returns how many parallel ``Range`` streams a pull may use for one big file (``$ZOO_CONNECTIONS``, default 1).

    Raises:
        InvalidOptionError: The variable is set but is not a whole number from 1 to 64.
    """
    value = os.environ.get("ZOO_CONNECTIONS", "").strip()
    if not value:
        return 1
    n = int(value) if value.isdigit() else 0
    if not 1 <= n <= 64:
        from zoo.errors import InvalidOptionError

        raise InvalidOptionError(f"ZOO_CONNECTIONS must be a whole number from 1 to 64, not {value!r}; unset it for one stream")
    return n


def pypi_url() -> str:
    """Returns the PyPI JSON API base (``$ZOO_PYPI_URL``, default ``https://pypi.org/pypi``), without a trailing '/'."""
    return (os.environ.get("ZOO_PYPI_URL", "").strip() or "https://pypi.org/pypi").rstrip("/")


def shipped_registry() -> Path:
    """Returns the folder of registry YAML files that ships with zoo.

    An installed wheel carries it as ``zoo/registry_data``; a source checkout
    (editable install) keeps it at the top-level ``registry/``.
    """
    package = Path(__file__).resolve().parent
    installed = package / "registry_data"
    if installed.is_dir():
        return installed
    return package.parent / "registry"


def max_onnx_bytes() -> int:
    """Returns the most tensor bytes an ONNX file zoo did not write may declare (``$ZOO_MAX_ONNX_BYTES``, default 8 GiB).

    Raises:
        InvalidOptionError: The variable is set but is not a positive whole number of bytes.
    """
    value = os.environ.get("ZOO_MAX_ONNX_BYTES", "").strip()
    if not value:
        return 8 * 1024**3
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        from zoo.errors import InvalidOptionError

        raise InvalidOptionError(
            f"ZOO_MAX_ONNX_BYTES must be a positive whole number of bytes, not {value!r}; unset it for the default (8 GiB)"
        )
    return limit
