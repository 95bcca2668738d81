"""Reading and validating registry YAML (the slow path: imports yaml and pydantic), merging layers.

A registry path is a file or a folder. A folder may hold a ``generated/``
subfolder (``zoo registry generate`` writes it from upstream manifests): its
files are read first and the folder's own, hand-written files are merged over
them *version by version* (:func:`_merge_parts`):

* a model defined in both keeps the hand-written model fields, ``default``
  and versions; generated versions the hand-written entry lacks remain;
* a generated version whose files are the files of a hand-written version
  (same source, or same file name and size) is the same weights under another
  name: it is dropped, and its publisher ``ids`` move to the hand-written one;
* a hand-written version keeps the publisher ``ids`` of the generated version
  it replaces, so ``resnet50.a1_in1k`` resolves whichever wrote the entry, and
  takes its ``metrics`` (and ``paper``, ``params``) when it gives none.

The generated files merge with each other the same way (one file per source:
a model several publishers name alike is one model), except that a version
name two generated files both define is an error; the model fields of the
file read last (by name) win, and a version keeps its own ``task`` when the
merged model's differs.

Between layers (shipped, ``ZOO_REGISTRY``, ``--registry``) a later layer still
replaces a whole model by name.

The index built here holds ``models`` (name -> record), ``aliases``
(alias -> name) and ``ids`` (lowercased publisher id -> ``name@version``).
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from zoo.errors import (
    RegistryError,
    RegistryIssue,
)

# Bump when the index's JSON layout changes.
_INDEX_FORMAT = 2
# Registry files are small text; anything bigger is a mistake, not a registry.
_MAX_REGISTRY_BYTES = 16 * 1024 * 1024
_SHORT = reprlib.Repr()  # values quoted in messages: a few items of a list, the start of a long string
_SHORT.maxstring = _SHORT.maxother = 80
_YAML_SUFFIXES = (".yaml", ".yml")
# The subfolder of a registry folder that holds generated files (read first, hand-written files merge over them).
GENERATED = "generated"


# --------------------------------------------------------------------------
# Reading and validating YAML (slow path: imports yaml and pydantic)
# --------------------------------------------------------------------------


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.suffix in _YAML_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


class Part(NamedTuple):
    """Files of one layer read together: a name defined twice among them is an error.

    ``generated``: one file of a ``generated/`` folder (see the module docstring).
    """

    files: list[Path]
    generated: bool = False


def registry_parts(path: Path) -> list[Part]:
    """Returns the parts of one registry layer, the first read first.

    A file is one part. A folder is its ``*.yaml``/``*.yml`` files (hidden
    files skipped, sorted by name), preceded by each file of its ``generated/``
    subfolder when it has one (a folder named ``generated`` is only such
    files); later parts merge over earlier ones version by version (see the
    module docstring).
    """
    if not path.is_dir():
        return [Part([path])]
    if path.name == GENERATED:
        # A generated folder on its own: its files merge as they do under their registry folder.
        return [Part([f], True) for f in _folder_files(path)]
    generated = path / GENERATED
    own = Part(_folder_files(path))
    if not generated.is_dir():
        return [own]
    return [Part([f], True) for f in _folder_files(generated)] + [own]


def registry_files(path: Path) -> list[Path]:
    """Returns the YAML files a registry path stands for, generated ones first (see :func:`registry_parts`)."""
    return [p for part in registry_parts(path) for p in part.files]


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
                if not isinstance(key, Hashable):
                    continue  # the base class reports it, with its line
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


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")  # the YAML reader then names it, with its line
    return out


def _json_body(text: str) -> Any:
    """The data of a registry file written as JSON-flavoured YAML (generated files), else None.

    YAML reads such a file the same, but ~100x slower (generated files are
    megabytes). Anything that is not strict JSON with unique keys after the
    ``#`` comment lines is left to the YAML reader, which reports problems.
    """
    start = 0
    while text.startswith("#", start) or text.startswith("\n", start):
        end = text.find("\n", start)
        if end < 0:
            return None
        start = end + 1
    if not text.startswith("{", start):
        return None
    import json

    try:
        return json.loads(text[start:], object_pairs_hook=_unique_pairs)
    except (ValueError, RecursionError):  # too deep for json: the YAML reader reports how deep is allowed
        return None


def _pydantic_issue(file: str, error: dict[str, Any]) -> RegistryIssue:
    loc = _format_loc(error["loc"])
    code = error["type"]
    if code == "extra_forbidden":
        key = error["loc"][-1] if error["loc"] else "?"
        message = f"unknown key {key!r}: remove it or fix its spelling"
    elif code == "missing":
        message = "required key is missing: add it"
    elif code == "literal_error":
        # Bounded: the input may be a YAML alias bomb, billions of values when written out in full.
        message = f"{error['msg']} (got {_SHORT.repr(error.get('input'))})"
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
    data = _json_body(text)
    try:
        if data is None:
            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [RegistryIssue(file, where, f"invalid YAML: {problem}; fix the syntax", "yaml_syntax")], []
    except RecursionError:
        return None, [
            RegistryIssue(file, "", "invalid YAML: nested too deeply to read; flatten the structure", "yaml_syntax")
        ], []
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


def _read_part(part: Sequence[Path], issues: list[RegistryIssue]) -> dict[str, dict[str, Any]]:
    """Validates one part's files; returns their models (name -> record). A name defined twice is an issue."""
    models: dict[str, dict[str, Any]] = {}
    defined: dict[str, str] = {}  # model name -> file that defines it in this part
    for path in part:
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
            for version in record["versions"].values():
                version.setdefault("files", [])  # a snapshot version's files are listed on first pull
            record["family"] = path.stem
            record["registry_file"] = str(path)
            models[name] = record
    return models


def _file_key(f: dict[str, Any]) -> tuple[Any, ...]:
    src = f["source"]
    if src.get("local"):
        return ("local", f.get("sha256"))
    if "hf" in src:
        return ("hf", src["hf"].lower(), src["file"])
    if "pypi" in src:
        return ("pypi", src["pypi"]["package"].lower(), src["pypi"]["version"], src["pypi"]["member"])
    return ("url", src["url"])


def _same_file(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two file entries are the same bytes: same source, same sha256, or same file name and exact size."""
    if _file_key(a) == _file_key(b):
        return True
    if a.get("sha256") and a.get("sha256") == b.get("sha256"):
        return True
    return bool(a.get("size")) and a.get("size") == b.get("size") and a["path"].rsplit("/", 1)[-1] == b["path"].rsplit("/", 1)[-1]


def _same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return len(a["files"]) == len(b["files"]) and all(any(_same_file(f, g) for g in b["files"]) for f in a["files"])


def _add_ids(version: dict[str, Any], ids: Sequence[str]) -> None:
    have = {i.lower() for i in version.get("ids", ())}
    extra = [i for i in ids if i.lower() not in have]
    if extra:
        version["ids"] = [*version.get("ids", ()), *extra]


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the schema knows it: without the index's bookkeeping keys."""
    out = {k: v for k, v in record.items() if k not in ("family", "registry_file")}
    out["versions"] = {n: {k: x for k, x in v.items() if k != "registry_file"} for n, v in record["versions"].items()}
    return out


def _carried(version: dict[str, Any], base: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """A version kept from an earlier part: it remembers its file, and its task if the model's changes."""
    out = dict(version)
    out.setdefault("registry_file", base["registry_file"])
    if "task" not in out and base["task"] != merged["task"]:
        out["task"] = base["task"]
    return out


# Fields a hand-written version takes from the generated version of the same name when it has none:
# published facts about the same weights, none of which changes how the files are fetched or built.
_FILLED = ("metrics", "paper", "params")


def _merge_model(
    name: str, generated: dict[str, Any], written: dict[str, Any], issues: list[RegistryIssue], *, strict: bool = False
) -> dict[str, Any]:
    """A later part's model merged over an earlier part's model of the same name, version by version.

    ``strict`` (two generated files): a version name both define is an error,
    and the model fields (task, architecture, ...) must agree on the modality.
    Else (hand-written over generated) the hand-written versions win.
    """
    from pydantic import ValidationError

    from zoo.schema import ModelEntry

    merged = {k: v for k, v in written.items() if k != "versions"}
    versions: dict[str, dict[str, Any]] = {}
    own = written["versions"]
    if strict:
        for vname in own:
            if vname in generated["versions"]:
                issues.append(
                    RegistryIssue(
                        written["registry_file"],
                        f"models.{name}.versions.{vname}",
                        f"version {vname!r} of {name!r} is also generated in "
                        f"{generated['versions'][vname].get('registry_file') or generated['registry_file']}; "
                        "generated version names must be unique, fix the generator's naming",
                        "duplicate_name",
                    )
                )
        if generated["modality"] != written["modality"]:
            issues.append(
                RegistryIssue(
                    written["registry_file"],
                    f"models.{name}.modality",
                    f"model {name!r} is {written['modality']} here but {generated['modality']} in "
                    f"{generated['registry_file']}; one name cannot be two modalities",
                    "modality_conflict",
                )
            )
        merged["versions"] = {**{n: _carried(v, generated, merged) for n, v in generated["versions"].items()}, **own}
        return merged
    # Hand-written versions first (in their order), then the generated ones they do not already hold.
    for vname, v in own.items():
        versions[vname] = dict(v)
        replaced = generated["versions"].get(vname)
        if replaced is not None:
            _add_ids(versions[vname], replaced.get("ids", ()))
            # The publisher's figures about the same weights, where the hand-written entry gives none.
            for key in _FILLED:
                if key not in versions[vname] and key in replaced:
                    versions[vname][key] = replaced[key]
        for gname, g in generated["versions"].items():
            if gname not in own and _same_weights(g, v):
                _add_ids(versions[vname], g.get("ids", ()))
    for vname, v in generated["versions"].items():
        if vname in own or any(_same_weights(v, w) for w in own.values()):
            continue
        versions[vname] = _carried(v, generated, merged)
    merged["versions"] = versions
    try:
        ModelEntry.model_validate(_strip(merged))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            issue = _pydantic_issue(written["registry_file"], {**err, "loc": ("models", name, *err["loc"])})
            message = f"merged over the generated entry in {generated['registry_file']}: {issue.message}"
            issues.append(RegistryIssue(issue.file, issue.location, message, issue.code))
    return merged


def _merge_parts(parts: Sequence[Part], issues: list[RegistryIssue]) -> dict[str, dict[str, Any]]:
    """Reads one layer's parts; each later part merges over the earlier ones version by version."""
    models: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, record in _read_part(part.files, issues).items():
            base = models.get(name)
            models[name] = record if base is None else _merge_model(name, base, record, issues, strict=part.generated)
    return models


def _merge_layer(
    layer: Sequence[Part],
    models: dict[str, dict[str, Any]],
    issues: list[RegistryIssue],
) -> None:
    """Validates one layer (its parts) and merges its models into ``models``, replacing whole models by name."""
    models.update(_merge_parts(layer, issues))


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


def _check_ids(models: dict[str, dict[str, Any]], aliases: dict[str, str], issues: list[RegistryIssue]) -> dict[str, str]:
    """Builds lowercased publisher id -> ``name@version``; reports ids that collide.

    An id resolves only when no model name or alias matches, so an id that is
    another model's name or alias could never resolve: that is an error too.
    """
    ids: dict[str, str] = {}
    for name, record in models.items():
        for vname, v in record["versions"].items():
            target = f"{name}@{vname}"
            for pid in v.get("ids", ()):
                key = pid.lower()
                where = v.get("registry_file") or record["registry_file"]
                owner = key if key in models else aliases.get(key)
                if owner is not None and owner != name:
                    issues.append(
                        RegistryIssue(
                            where,
                            f"models.{name}.versions.{vname}.ids",
                            f"publisher id {pid!r} is the name or an alias of model {owner!r}, so it would never "
                            f"resolve to {target}; drop it or rename the model",
                            "duplicate_id",
                        )
                    )
                elif key in ids and ids[key] != target:
                    issues.append(
                        RegistryIssue(
                            where,
                            f"models.{name}.versions.{vname}.ids",
                            f"publisher id {pid!r} also names {ids[key]}; ids must be unique, keep it on one version",
                            "duplicate_id",
                        )
                    )
                elif owner is None:
                    ids[key] = target
    return ids


def _build_index(layers: Sequence[Sequence[Part]]) -> dict[str, Any]:
    """The index of merged layers; each layer is a list of parts (see :func:`registry_parts`)."""
    models: dict[str, dict[str, Any]] = {}
    issues: list[RegistryIssue] = []
    for layer in layers:
        _merge_layer(layer, models, issues)
    aliases = _check_aliases(models, issues)
    ids = _check_ids(models, aliases, issues)
    if issues:
        raise RegistryError(issues)
    return {"format": _INDEX_FORMAT, "models": models, "aliases": aliases, "ids": ids}


def validate_paths(paths: Sequence[str | os.PathLike[str]]) -> dict[str, int]:
    """Validates registry files or folders together, as one layer.

    Args:
        paths: Files or folders of YAML files.

    Returns:
        Counts: ``{"files": ..., "models": ..., "versions": ..., "files_pinned": ...}``.

    Raises:
        RegistryError: With every problem found in every file.
    """
    # As one layer: every generated file first, then every other file merged over them.
    generated: list[Part] = []
    written: list[Path] = []
    for p in paths:
        found = registry_parts(Path(p))
        generated.extend(part for part in found if part.generated)
        written.extend(f for part in found if not part.generated for f in part.files)
    parts = [*generated, Part(written)] if written else generated
    files = [f for part in parts for f in part.files]
    if not files:
        raise RegistryError([RegistryIssue(", ".join(map(str, paths)), "", "no YAML files found", "no_files")])
    index = _build_index([parts])
    models = index["models"].values()
    return {
        "files": len(files),
        "models": len(index["models"]),
        "versions": sum(len(m["versions"]) for m in models),
        "files_pinned": sum(len(v["files"]) for m in models for v in m["versions"].values()),
    }
