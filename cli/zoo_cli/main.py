"""``zoo``: find, inspect and validate pretrained models.

The commands only parse arguments, call the :mod:`zoo` API and render the
result; every rule lives in the library. This module holds the root group
(``--registry``, and zoo errors turned into one message and an exit code)
and registers the commands, one module per group:

- :mod:`zoo_cli._browse`: ``list``, ``search``, ``info``, ``stages``;
- :mod:`zoo_cli._cache_cmds`: ``pull``, ``verify``, ``cache ...``, ``mirror create``;
- :mod:`zoo_cli._export_cmd`: ``export``;
- :mod:`zoo_cli._registry_cmds`: ``registry ...``;
- :mod:`zoo_cli._site_cmds`: ``catalog``, ``compare``.

Options they share are in :mod:`zoo_cli._options`.

How a run ends (:func:`main`): zoo's own errors print ``zoo: error: ...`` and
exit with their code (:data:`EXIT_CODES`); click's usage errors exit 2; any
other exception is a bug in zoo and prints one line ``zoo: internal error:
...`` (the traceback too with ``ZOO_DEBUG=1``) and exits 1; a reader that
closes the pipe early (``zoo list | head -1``) ends the run quietly with 0.
Third-party loggers (huggingface_hub, httpx, urllib3...) never write to the
terminal on their own: zoo reports what went wrong itself (``ZOO_DEBUG=1``
shows them).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

import zoo
from zoo import errors
from zoo_cli import (
    _browse,
    _cache_cmds,
    _export_cmd,
    _registry_cmds,
    _site_cmds,
    _transfer_cmds,
)
from zoo_cli._options import SOURCES as _SOURCES  # noqa: F401 - tests/test_query.py checks it against the registry's

__all__ = ["EXIT_CODES", "cli", "main"]

# Most specific first: the first class an error is an instance of wins.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.RegistryError, 2),
    (errors.InvalidModelIdError, 2),
    (errors.InvalidOptionError, 2),
    (errors.StageNotFoundError, 2),
    (errors.StageMismatchError, 2),
    (errors.DatasetError, 2),
    (errors.FolderImportError, 2),
    (errors.UnsafeFileError, 4),
    (errors.ModelNotFoundError, 3),
    (errors.VersionNotFoundError, 3),
    (errors.NotCachedError, 3),
    (errors.ChecksumMismatchError, 4),
    (errors.UnpinnedFileError, 4),
    (errors.DownloadError, 5),
    (errors.MirrorError, 5),
    (errors.ExportError, 6),
    (errors.InsufficientSpaceError, 7),
    (errors.LockTimeoutError, 7),
    (errors.ZooError, 1),
]

_EPILOG = """\b
Exit codes: 0 ok, 1 other error, 2 bad input (id, stage, option) or invalid registry,
3 unknown model or version, 4 checksum mismatch, unpinned or unsafe file, 5 download,
mirror or offline error, 6 export or parity failure, 7 no space left or a lock not released.
\b
Environment: ZOO_HOME (cache root), ZOO_REGISTRY (extra registries), ZOO_OFFLINE,
ZOO_MIRROR (https URLs, s3://bucket/prefix or folders), ZOO_SHARED_CACHE (a read-only
ZOO_HOME tried first), ZOO_CONNECTIONS (parallel Range streams for big files),
ZOO_DEBUG (tracebacks and library logs)."""

_TRUE = {"1", "true", "yes", "on"}
# Loggers of the libraries zoo drives (huggingface_hub aside: it has its own handler, see _route_library_logs).
_LIBRARY_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "filelock", "fsspec")


def exit_code_for(exc: BaseException) -> int:
    """Returns the process exit code for a zoo error."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def _debug() -> bool:
    return os.environ.get("ZOO_DEBUG", "").strip().lower() in _TRUE


def _print_traceback(exc: BaseException) -> None:
    import traceback

    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


def _stdout_closed() -> bool:
    """True when nobody reads stdout any more (``zoo list | head -1`` after head exited)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True  # cannot tell (no poll(), stdout replaced): a broken pipe is then taken to be stdout's


def _quiet_stdout() -> None:
    """Points stdout at /dev/null, so that writing or flushing it once more cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def _internal_error(exc: BaseException) -> None:
    if _debug():
        _print_traceback(exc)
    hint = "" if _debug() else " (set ZOO_DEBUG=1 for the traceback)"
    text = str(exc).strip()
    message = text.splitlines()[0] if text else ""
    click.echo(f"zoo: internal error: {type(exc).__name__}: {message}{hint}", err=True)


class _ZooGroup(click.Group):
    """A group that turns zoo errors into one message and an exit code, and anything else into one line and exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            # 'zoo --help | head -1': click would make it exit 1.
            _quiet_stdout()
            raise click.exceptions.Exit(0) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors, explicit exits and ^C are click's business
        except errors.ZooError as exc:
            if _debug():
                _print_traceback(exc)
            click.echo(f"zoo: error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))
        except BrokenPipeError as exc:
            if not _stdout_closed():
                _internal_error(exc)  # some other pipe broke
                ctx.exit(1)
            _quiet_stdout()  # the reader has all it wanted: not an error
            ctx.exit(0)
        except Exception as exc:  # noqa: BLE001 - a bug in zoo (or below it): one line, not a wall of traceback
            _internal_error(exc)
            ctx.exit(1)


@click.group(cls=_ZooGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--registry",
    "registries",
    multiple=True,
    type=click.Path(exists=True, dir_okay=True),
    help="Extra registry file or folder, merged over the shipped one (repeatable).",
)
@click.version_option(zoo.__version__, prog_name="zoo")
@click.pass_context
def cli(ctx: click.Context, registries: tuple[str, ...]) -> None:
    """Find, pull, cut and export pretrained vision and language models."""
    ctx.obj = {"registries": list(registries)}


cli.add_command(_browse.list_cmd)
cli.add_command(_browse.search_cmd)
cli.add_command(_browse.info_cmd)
cli.add_command(_browse.stages_cmd)
cli.add_command(_registry_cmds.registry_group)
cli.add_command(_cache_cmds.pull_cmd)
cli.add_command(_cache_cmds.verify_cmd)
cli.add_command(_cache_cmds.cache_group)
cli.add_command(_cache_cmds.mirror_group)
cli.add_command(_export_cmd.export_cmd)
cli.add_command(_transfer_cmds.embed_cmd)
cli.add_command(_transfer_cmds.probe_cmd)
cli.add_command(_site_cmds.catalog_cmd)
cli.add_command(_site_cmds.compare_cmd)


def _route_library_logs() -> None:
    """Keeps third-party log records off the terminal; ``ZOO_DEBUG=1`` shows them.

    huggingface_hub puts its own handler on its logger when it is first
    imported, at the level ``HF_HUB_VERBOSITY`` names: unless the user set it,
    that is ``critical`` (past anything it logs; its "Retrying in 8s" lines
    are warnings), or ``info`` with ZOO_DEBUG. The other libraries have no
    handler of their own: theirs is one that drops every record, or with
    ZOO_DEBUG prints it as ``zoo: debug: <logger>: <message>``.
    """
    import logging

    debug = _debug()
    os.environ.setdefault("HF_HUB_VERBOSITY", "info" if debug else "critical")
    handler: logging.Handler
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("zoo: debug: %(name)s: %(message)s"))
    else:
        handler = logging.NullHandler()
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False  # the root logger's last-resort handler would print them unformatted
        if debug:
            logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs ``zoo`` and exits with its code."""
    _route_library_logs()
    try:
        cli.main(args=argv, prog_name="zoo")
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()  # what is still buffered, now, rather than in the interpreter's shutdown
    except BrokenPipeError:
        _quiet_stdout()
        code = 0
    sys.exit(code)
