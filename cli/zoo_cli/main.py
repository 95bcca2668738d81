"""``zoo``: find, inspect and validate pretrained models.

The commands only parse arguments, call the :mod:`zoo` API and render the
result; every rule lives in the library. This module holds the root group
(``--registry``, and zoo errors turned into one message and an exit code)
and registers the commands, one module per group:

- :mod:`zoo_cli._browse`: ``list``, ``search``, ``info``, ``stages``;
- :mod:`zoo_cli._cache_cmds`: ``pull``, ``verify``, ``cache ...``, ``mirror create``;
- :mod:`zoo_cli._export_cmd`: ``export``;
- :mod:`zoo_cli._registry_cmds`: ``registry ...``.

Options they share are in :mod:`zoo_cli._options`.
"""

from __future__ import annotations

from typing import Any

import click

import zoo
from zoo import errors
from zoo_cli import _browse, _cache_cmds, _export_cmd, _registry_cmds
from zoo_cli._options import SOURCES as _SOURCES  # noqa: F401 - tests/test_query.py checks it against the registry's

__all__ = ["EXIT_CODES", "cli", "main"]

# Most specific first: the first class an error is an instance of wins.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.RegistryError, 2),
    (errors.InvalidModelIdError, 2),
    (errors.StageNotFoundError, 2),
    (errors.StageMismatchError, 2),
    (errors.ModelNotFoundError, 3),
    (errors.VersionNotFoundError, 3),
    (errors.NotCachedError, 3),
    (errors.ChecksumMismatchError, 4),
    (errors.UnpinnedFileError, 4),
    (errors.DownloadError, 5),
    (errors.ExportError, 6),
    (errors.ZooError, 1),
]

_EPILOG = """\b
Exit codes: 0 ok, 1 other error, 2 bad input (id, stage, option) or invalid registry,
3 unknown model or version, 4 checksum mismatch or unpinned file, 5 download or offline
error, 6 export or parity failure.
\b
Environment: ZOO_HOME (cache root), ZOO_REGISTRY (extra registries),
ZOO_OFFLINE, ZOO_MIRROR."""


def exit_code_for(exc: BaseException) -> int:
    """Returns the process exit code for a zoo error."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


class _ZooGroup(click.Group):
    """A group that turns zoo errors into one message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ZooError as exc:
            click.echo(f"zoo: error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))
        except ValueError as exc:
            # Bad option values the library rejects (e.g. an unreadable size).
            click.echo(f"zoo: error: {exc}", err=True)
            ctx.exit(2)


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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="zoo")
