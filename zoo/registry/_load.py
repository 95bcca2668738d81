"""Reading and validating registry YAML (the slow path: imports yaml and pydantic), merging layers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import (
    RegistryError,
    RegistryIssue,
)

# Bump when the index's JSON layout changes.
_INDEX_FORMAT = 1
# Registry files are small text; anything bigger is a mistake, not a registry.
_MAX_REGISTRY_BYTES = 16 * 1024 * 1024
_YAML_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------
# Reading and validating YAML (slow path: imports yaml and pydantic)
# --------------------------------------------------------------------------


def registry_files(path: Path) -> list[Path]:
    """Returns the YAML files a registry path stands for.

    A file stands for itself; a folder for its ``*.yaml``/``*.yml`` files
    (not recursive, hidden files skipped), sorted by name.
    """
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if p.suffix in _YAML_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
    return [path]


def _format_loc(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _yaml_loader() -> type:
    """Returns a SafeLoader that also rejects duplicate mapping keys.

    Plain ``yaml.safe_load`` keeps the last of two equal keys silently, which
    would let a second ``resnet50:`` in one file replace the first unseen.
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _UniqueKeyLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN202
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r} (first at line {seen[key].line + 1}); "
                        "each key may appear once",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    return _UniqueKeyLoader


def _pydantic_issue(file: str, error: dict[str, Any]) -> RegistryIssue:
    loc = _format_loc(error["loc"])
    code = error["type"]
    if code == "extra_forbidden":
        key = error["loc"][-1] if error["loc"] else "?"
        message = f"unknown key {key!r}: remove it or fix its spelling"
    elif code == "missing":
        message = "required key is missing: add it"
    elif code == "literal_error":
        message = f"{error['msg']} (got {error.get('input')!r})"
    else:
        message = error["msg"]
    return RegistryIssue(file, loc, message, code)


def _read_registry_file(path: Path) -> tuple[Any, list[RegistryIssue], list[str]]:
    """Parses and validates one file.

    Returns:
        (RegistryFile or None, issues, the model names the file defines). The
        names are read even from a file that fails validation, so that
        duplicates are reported together with its other problems.
    """
    import yaml

    from zoo.schema import RegistryFile

    file = str(path)
    try:
        size = path.stat().st_size
        if size > _MAX_REGISTRY_BYTES:
            return None, [
                RegistryIssue(
                    file,
                    "",
                    f"file is {size} bytes, over the {_MAX_REGISTRY_BYTES} byte limit for "
                    "a registry file; split it by model family",
                    "file_too_large",
                )
            ], []
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [RegistryIssue(file, "", "no such file or folder: check the path", "not_found")], []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RegistryIssue(file, "", f"cannot read the file ({exc}); it must be UTF-8 text", "unreadable")], []
    try:
        data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [RegistryIssue(file, where, f"invalid YAML: {problem}; fix the syntax", "yaml_syntax")], []
    if not isinstance(data, dict):
        return None, [
            RegistryIssue(
                file,
                "",
                "the top level must be a mapping with 'schema_version: 1' and 'models:'",
                "not_a_mapping",
            )
        ], []
    models = data.get("models")
    names = [n for n in models if isinstance(n, str)] if isinstance(models, dict) else []
    from pydantic import ValidationError

    try:
        return RegistryFile.model_validate(data), [], names
    except ValidationError as exc:
        return None, [_pydantic_issue(file, err) for err in exc.errors(include_url=False)], names


def _merge_layer(
    layer: Sequence[Path],
    models: dict[str, dict[str, Any]],
    issues: list[RegistryIssue],
) -> None:
    """Validates one layer's files and merges their models into ``models``."""
    defined: dict[str, str] = {}  # model name -> file that defines it in this layer
    for path in layer:
        parsed, file_issues, names = _read_registry_file(path)
        issues.extend(file_issues)
        for name in names:
            if name in defined:
                issues.append(
                    RegistryIssue(
                        str(path),
                        f"models.{name}",
                        f"model {name!r} is already defined in {defined[name]}; "
                        "names must be unique, rename or remove one",
                        "duplicate_name",
                    )
                )
                continue
            defined[name] = str(path)
            if parsed is None:
                continue
            entry = parsed.models[name]
            record = entry.model_dump(mode="json", exclude_defaults=True)
            record["family"] = path.stem
            record["registry_file"] = str(path)
            models[name] = record


def _check_aliases(models: dict[str, dict[str, Any]], issues: list[RegistryIssue]) -> dict[str, str]:
    """Builds alias -> name after merging; reports aliases that collide."""
    aliases: dict[str, str] = {}
    for name, record in models.items():
        for alias in record.get("aliases", []):
            owner = alias if alias in models else aliases.get(alias)
            if owner is None:
                aliases[alias] = name
                continue
            issues.append(
                RegistryIssue(
                    record["registry_file"],
                    f"models.{name}.aliases",
                    f"alias {alias!r} is already taken by model {owner!r} "
                    f"({models[owner]['registry_file']}); names and aliases must be "
                    "unique, rename or drop the alias",
                    "duplicate_name",
                )
            )
    return aliases


def _build_index(layers: Sequence[Sequence[Path]]) -> dict[str, Any]:
    models: dict[str, dict[str, Any]] = {}
    issues: list[RegistryIssue] = []
    for layer in layers:
        _merge_layer(layer, models, issues)
    aliases = _check_aliases(models, issues)
    if issues:
        raise RegistryError(issues)
    return {"format": _INDEX_FORMAT, "models": models, "aliases": aliases}


def validate_paths(paths: Sequence[str | os.PathLike[str]]) -> dict[str, int]:
    """Validates registry files or folders together, as one layer.

    Args:
        paths: Files or folders of YAML files.

    Returns:
        Counts: ``{"files": ..., "models": ..., "versions": ..., "files_pinned": ...}``.

    Raises:
        RegistryError: With every problem found in every file.
    """
    files: list[Path] = []
    for p in paths:
        files.extend(registry_files(Path(p)))
    if not files:
        raise RegistryError([RegistryIssue(", ".join(map(str, paths)), "", "no YAML files found", "no_files")])
    index = _build_index([files])
    models = index["models"].values()
    return {
        "files": len(files),
        "models": len(index["models"]),
        "versions": sum(len(m["versions"]) for m in models),
        "files_pinned": sum(len(v["files"]) for m in models for v in m["versions"].values()),
    }
