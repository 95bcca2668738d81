"""A local model folder as a registry entry (``zoo registry import-folder DIR --name NAME``).

Teams fine-tune and keep the result in a folder. :func:`import_folder` reads
that folder, never runs or unpickles anything in it, and writes the entry that
pins every file by size and sha256 with ``source: {local: true}`` (no origin:
``zoo cache import DIR`` adopts the bytes, matched by size and sha256). Three
layouts are recognised, by their files:

* **Hugging Face** (``transformers``): ``config.json`` with ``model_type``,
  ``*.safetensors`` and tokenizer files, with or without sentence-transformers
  modules (``modules.json``, ``1_Pooling/config.json``, ...), which the model's
  own pooling then follows;
* **timm** as ``push_to_hub``/``save_for_hf`` writes it: ``config.json`` with
  ``architecture`` and ``pretrained_cfg``, and ``model.safetensors``;
* **ONNX**: a folder holding one ``.onnx`` (and its external data), or the
  ``.onnx`` file itself.

Every value comes from a file: ``arch``, input spec, class count and
sentence length from the configs, parameters from the safetensors headers
(8-byte length + JSON; the tensors are never read), the license from the
model card's frontmatter or timm's ``pretrained_cfg`` (else ``unknown``); description and paper only when
given. Stages of a transformers encoder (``embeddings`` + each layer, named by
the module path of its layer list, as the adapter names them) are read from
the config's layer count and the weights' key names; ``zoo stages`` derives
every layout's stages from the architecture, and checks these.

Refused, before anything is hashed (:class:`~zoo.errors.FolderImportError`):
pickled or framework-specific weights with no safetensors beside them,
Python files and remote code (``auto_map``, a sentence-transformers module
outside ``sentence_transformers``), links leading out of the folder, and a
layout none of the above.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo._ids import NAME_PATTERN
from zoo.errors import FolderImportError, InvalidOptionError, RegistryError

__all__ = ["ImportedFolder", "import_folder", "LAYOUTS"]

LAYOUTS = ("transformers", "timm", "onnx")
_LAYOUT_HELP = (
    "zoo recognises a Hugging Face folder (config.json with model_type, *.safetensors and tokenizer files, with or "
    "without sentence-transformers modules), a timm folder as push_to_hub writes it (config.json with architecture "
    "and pretrained_cfg, model.safetensors), or an ONNX model (a folder with one .onnx file, or its path)"
)
# Weights zoo would have to unpickle (.bin .pt .pth .pkl .ckpt) or read with TensorFlow/Flax (.h5 .msgpack).
UNSAFE_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".ckpt", ".h5", ".msgpack")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.txt", "vocab.json")
_MAX_JSON = 16 * 2**20  # a config or model card larger than this is not one
_MAX_HEADER = 100 * 2**20  # the safetensors format's own limit on its JSON header
_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
# BatchNorm's running statistics are stored with the weights but are buffers, not parameters.
_BUFFER_SUFFIXES = (".running_mean", ".running_var")
_NAME = re.compile(f"^{NAME_PATTERN}$")


@dataclass(frozen=True)
class ImportedFolder:
    """What :func:`import_folder` made of a folder.

    Attributes:
        name: The model's registry name.
        version: Its one version's name.
        layout: ``transformers``, ``timm`` or ``onnx`` (:data:`LAYOUTS`).
        entry: The model entry in the registry schema (a plain mapping).
        folder: The folder ``zoo cache import`` adopts the files from.
        skipped: ``(path, why)`` of files in the folder the entry leaves out.
        output: The registry file written, or None.
    """

    name: str
    version: str
    layout: str
    entry: dict[str, Any]
    folder: Path
    skipped: tuple[tuple[str, str], ...] = ()
    output: Path | None = None
    notes: tuple[str, ...] = field(default=())

    def document(self) -> dict[str, Any]:
        """A whole registry file holding just this model (what ``import-folder`` prints without ``-o``)."""
        return {"schema_version": 1, "models": {self.name: self.entry}}

    def to_dict(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "model": self.name,
            "version": self.version,
            "layout": self.layout,
            "folder": str(self.folder),
            "file": str(self.output) if self.output is not None else None,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "notes": list(self.notes),
            "entry": self.entry,
        }


def import_folder(
    path: str | os.PathLike[str],
    *,
    name: str,
    output: str | os.PathLike[str] | None = None,
    version: str = "local",
    description: str | None = None,
    license: str | None = None,  # noqa: A002 - the registry's field name
    task: str | None = None,
    paper_url: str | None = None,
    paper_title: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ImportedFolder:
    """Turns a local model folder into a registry entry pinned by size and sha256 of every file.

    Args:
        path: The model folder (or an ``.onnx`` file).
        name: The registry name (lowercase letters, digits, ``.``, ``_``, ``-``).
        output: A registry file to add the model to (created if needed; an
            entry of the same name is replaced). None: nothing is written.
        version: The version's name.
        description: Free text for ``zoo info``.
        license: The license; default: the model card's (``README.md``
            frontmatter ``license:``), else ``unknown``.
        task: One of the schema's tasks; default from the layout
            (``sentence-embedding`` with sentence-transformers modules,
            ``feature-extraction`` for other encoders and ONNX graphs,
            ``image-classification`` for a timm model with a classifier).
        paper_url, paper_title: The paper, both or neither.
        mean, std: Per-channel normalisation of an ONNX image model (its
            graph does not say it; timm folders carry their own).

    Returns:
        An :class:`ImportedFolder`; ``entry`` is valid registry data.

    Raises:
        FolderImportError: The folder was refused (``reason`` says why); nothing written.
        InvalidOptionError: A bad name, task, paper or mean/std.
        RegistryError: The entry would not validate (e.g. a file path the registry cannot hold).

    Example:
        >>> imported = import_folder("runs/ft-3/", name="my-encoder", output="team.yaml")  # doctest: +SKIP
        >>> imported.entry["versions"]["local"]["adapter"]  # doctest: +SKIP
        'transformers'
    """
    for what, value in (("name", name), ("version", version)):
        if not _NAME.match(value):
            raise InvalidOptionError(
                f"{what} {value!r} is not a registry name: use lowercase letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
    if (paper_url is None) != (paper_title is None):
        raise InvalidOptionError("give the paper's title and URL together (--paper-title and --paper-url), or neither")
    given = Path(path)
    if given.is_file() and given.suffix == ".onnx":
        root, onnx_path = given.parent, given
    elif given.is_dir():
        root, onnx_path = given, None
    else:
        raise FolderImportError(f"{given}: not a folder or an .onnx file; {_LAYOUT_HELP}", path=str(given), reason="layout")
    # An .onnx path is that file and its external data: the folder around it is not walked.
    files = _walk(root) if onnx_path is None else []
    if onnx_path is None:
        _refuse_code(root, files)
    config = _read_json(root / "config.json") if "config.json" in files and onnx_path is None else None
    if isinstance(config, dict) and "architecture" in config and "pretrained_cfg" in config:
        layout = "timm"
    elif isinstance(config, dict) and "model_type" in config:
        layout = "transformers"
    else:
        layout = "onnx"
        onnx_path = onnx_path or _one_onnx(root, files)
    chosen, skipped = _weights_files(root, files, layout, onnx_path)
    if layout == "transformers":
        built = _transformers(root, chosen, config, task)  # type: ignore[arg-type]
    elif layout == "timm":
        built = _timm(root, chosen, config, task)  # type: ignore[arg-type]
    else:
        built = _onnx(root, onnx_path, task, mean, std)  # type: ignore[arg-type]
        chosen = built.pop("_files")
        skipped = [(p, "not part of the ONNX model") for p in files if p not in chosen]
    notes = built.pop("_notes", [])
    pinned = []
    for rel in sorted(chosen):
        from zoo._hashing import hash_file  # hashlib: not on the cold path of `zoo list`

        sha256, size = hash_file(root / rel)
        pinned.append({"path": rel, "size": size, "sha256": sha256, "source": {"local": True}})
    v: dict[str, Any] = {"adapter": built["adapter"], "arch": built["arch"]}
    if built.get("arch_args"):
        v["arch_args"] = built["arch_args"]
    v["license"] = license or _card_license(root / "README.md") or built.pop("_license", None) or "unknown"
    if description:
        v["description"] = description
    if built.get("params"):
        v["params"] = built["params"]
    if built.get("input"):
        v["input"] = built["input"]
    if built.get("stages"):
        v["stages"] = built["stages"]
    v["files"] = pinned
    entry: dict[str, Any] = {"task": built["task"], "modality": built["modality"], "architecture": built["architecture"]}
    if paper_url is not None:
        entry["paper"] = {"title": paper_title, "url": paper_url}
    if description:
        entry["description"] = description
    entry["default"] = version
    entry["versions"] = {version: v}
    _validate(root, name, entry)
    written = None
    if output is not None:
        from zoo.registry._authoring import add_entry

        written = add_entry(output, name, entry)
    return ImportedFolder(name, version, layout, entry, root, tuple(skipped), written, tuple(notes))


# ---- the folder ---------------------------------------------------------------------------------


def _walk(root: Path) -> list[str]:
    """Every regular file under ``root`` (relative POSIX paths), hidden ones (``.git``, ``.cache``) left out.

    A link is followed only when it stays inside the folder; one leading out
    is refused, as ``zoo cache import`` would not read it.
    """
    real_root = os.path.realpath(root)
    found: list[str] = []
    for top, dirs, names in os.walk(root):  # followlinks=False
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for entry in dirs + sorted(names):
            full = Path(top) / entry
            if entry.startswith(".") or not os.path.islink(full):
                if entry in names and not entry.startswith(".") and full.is_file():
                    found.append(full.relative_to(root).as_posix())
                continue
            target = os.path.realpath(full)
            if os.path.commonpath([real_root, target]) != real_root:
                raise FolderImportError(
                    f"{full}: a link to {target}, outside the folder; zoo reads nothing outside it. Copy the files "
                    "in (cp -rL SRC DIR, e.g. for a Hugging Face cache snapshot) and import again",
                    path=str(full), reason="symlink",
                )
            if entry in names and full.is_file():
                found.append(full.relative_to(root).as_posix())
    return found


def _refuse_code(root: Path, files: list[str]) -> None:
    for rel in files:
        if rel.endswith(".py"):
            raise FolderImportError(
                f"{root / rel}: a Python file; zoo never runs a model's own code. Remove it if the model does not "
                "need it (a model that does is not supported)",
                path=str(root / rel), reason="python-file",
            )
    for rel in ("config.json", "tokenizer_config.json"):
        data = _read_json(root / rel) if rel in files else None
        if isinstance(data, dict) and data.get("auto_map"):
            raise FolderImportError(
                f"{root / rel}: 'auto_map' names the publisher's own classes (remote code), which zoo never runs; "
                "save the model with a standard transformers class (no auto_map) and import again",
                path=str(root / rel), reason="remote-code",
            )
    modules = _read_json(root / "modules.json") if "modules.json" in files else None
    for module in modules if isinstance(modules, list) else []:
        kind = module.get("type", "") if isinstance(module, dict) else ""
        if not str(kind).startswith("sentence_transformers."):
            raise FolderImportError(
                f"{root / 'modules.json'}: module type {kind!r} is not one of sentence-transformers' own (remote "
                "code, which zoo never runs); keep only sentence_transformers modules and import again",
                path=str(root / "modules.json"), reason="remote-code",
            )


def _weights_files(root: Path, files: list[str], layout: str, onnx_path: Path | None) -> tuple[list[str], list[tuple[str, str]]]:
    """The files the entry pins, and the skipped ones: unsafe weights with safetensors beside them."""
    if layout == "onnx":
        return [], []
    safe_dirs = {os.path.dirname(f) for f in files if f.endswith(".safetensors")}
    chosen, skipped = [], []
    for rel in files:
        if not rel.endswith(UNSAFE_WEIGHTS):
            chosen.append(rel)
        elif os.path.dirname(rel) in safe_dirs:
            skipped.append((rel, "not safetensors; the safetensors beside it are used"))
        else:
            raise FolderImportError(
                f"{root / rel}: weights zoo would have to unpickle (or load with TensorFlow/Flax), with no "
                "*.safetensors beside them; convert them to safetensors (model.save_pretrained(DIR) or "
                "safetensors.torch.save_file(model.state_dict(), 'model.safetensors')) and import again",
                path=str(root / rel), reason="pickle",
            )
    return chosen, skipped


def _read_json(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FolderImportError(f"{path}: cannot read it ({exc})", path=str(path), reason="malformed") from None
    if size > _MAX_JSON:
        raise FolderImportError(
            f"{path}: {size} bytes, over the {_MAX_JSON} byte limit for a config file; this is not a model config",
            path=str(path), reason="too-large",
        )
    try:
        import json

        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FolderImportError(f"{path}: not valid JSON ({exc}); fix or remove it", path=str(path), reason="malformed") from None


def _card_license(path: Path) -> str | None:
    """The ``license:`` of a Hugging Face model card's YAML frontmatter, if it has one."""
    import yaml

    try:
        if not path.is_file() or path.stat().st_size > _MAX_JSON:
            return None
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not lines or lines[0].strip() != "---":
        return None
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
        data = yaml.safe_load("\n".join(lines[1:end]))
    except (StopIteration, yaml.YAMLError):
        return None
    value = data.get("license") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def safetensors_header(path: Path) -> dict[str, Any]:
    """The tensor table of a ``.safetensors`` file (name -> dtype, shape, offsets), read from its header only.

    Raises:
        FolderImportError: Not a safetensors file, or a header over the format's 100 MiB limit.
    """
    length = -1
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if 2 <= length <= min(_MAX_HEADER, size - 8):
                import json

                table = json.loads(f.read(length))
            elif length <= _MAX_HEADER:
                raise ValueError("the header length does not fit the file")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise FolderImportError(
            f"{path}: not a readable safetensors file ({exc}); save it again with safetensors", path=str(path), reason="malformed"
        ) from None
    if length > _MAX_HEADER:
        raise FolderImportError(
            f"{path}: declares a {length} byte header, over the safetensors limit ({_MAX_HEADER}); not a safetensors file",
            path=str(path), reason="too-large",
        )
    if not isinstance(table, dict):
        raise FolderImportError(f"{path}: the safetensors header is not a table of tensors", path=str(path), reason="malformed")
    tensors = {}
    for key, value in table.items():
        if key == "__metadata__":
            continue
        shape = value.get("shape") if isinstance(value, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FolderImportError(f"{path}: tensor {key!r} has no valid shape in the header", path=str(path), reason="malformed")
        tensors[key] = value
    return tensors


def _params(root: Path, files: Sequence[str]) -> tuple[int, list[str]]:
    """Parameters stored in the folder's safetensors files (floating tensors, BatchNorm statistics left out), and the keys of the top-level ones."""
    total, keys = 0, []
    for rel in files:
        if not rel.endswith(".safetensors"):
            continue
        for key, t in safetensors_header(root / rel).items():
            if "/" not in rel:
                keys.append(key)
            if t.get("dtype") in _FLOAT_DTYPES and not key.endswith(_BUFFER_SUFFIXES):
                n = 1
                for d in t["shape"]:
                    n *= d
                total += n
    return total, keys


# ---- the layouts --------------------------------------------------------------------------------


def _check_task(task: str | None, default: str) -> str:
    from zoo.schema import TASKS

    chosen = task or default
    if chosen not in TASKS:
        raise InvalidOptionError(f"task {chosen!r} is not one of zoo's tasks: {', '.join(TASKS)}")
    return chosen


def _int(config: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _transformers(root: Path, files: list[str], config: dict[str, Any], task: str | None) -> dict[str, Any]:
    if not any(f.endswith(".safetensors") and "/" not in f for f in files):
        raise FolderImportError(
            f"{root}: config.json says a transformers model, but there are no *.safetensors weights; save them with "
            "model.save_pretrained(DIR) (safetensors by default) and import again", path=str(root), reason="layout",
        )
    tokenizer = next((t for t in _TOKENIZER_FILES if t in files), None)
    if tokenizer is None:
        raise FolderImportError(
            f"{root}: a transformers model without tokenizer files ({', '.join(_TOKENIZER_FILES)}); save the tokenizer "
            f"beside it (tokenizer.save_pretrained(DIR)); {_LAYOUT_HELP}", path=str(root), reason="layout",
        )
    st = "modules.json" in files
    spec: dict[str, Any] = {"tokenizer": tokenizer}
    bert_config = _read_json(root / "sentence_bert_config.json") if "sentence_bert_config.json" in files else {}
    tok_config = _read_json(root / "tokenizer_config.json") if "tokenizer_config.json" in files else {}
    # The longest input: sentence-transformers' own, else the tightest of the tokenizer's and the position table's.
    limits = [
        _int(tok_config, "model_max_length") if isinstance(tok_config, dict) else None,
        _int(config, "max_position_embeddings", "n_positions"),
    ]
    seq = _int(bert_config, "max_seq_length") if isinstance(bert_config, dict) else None
    known = [n for n in limits if n is not None and n < 2**31]
    if seq or known:
        spec["max_length"] = seq or min(known)
    params, keys = _params(root, files)
    archs = config.get("architectures")
    architecture = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else str(config["model_type"])
    return {
        "adapter": "transformers",
        "arch": str(config["model_type"]),
        "modality": "text",
        "task": _check_task(task, "sentence-embedding" if st else "feature-extraction"),
        "architecture": architecture,
        "params": params,
        "input": spec,
        "stages": _text_stages(config, keys),
    }


def _text_stages(config: dict[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    """``embeddings`` + each layer, named as the transformers adapter names them; [] when the keys do not say.

    The layer list is the shallowest prefix whose children are exactly
    ``0 .. n-1`` for the config's layer count (the module path of the
    encoder's ``ModuleList``), relative to the base model: a checkpoint of a
    model with a head keeps the base model under one prefix (``bert.``), as
    its embeddings' keys show.
    """
    count = _int(config, "num_hidden_layers", "n_layers", "num_layers", "n_layer")
    hidden = _int(config, "hidden_size", "dim", "d_model", "n_embd")
    if count is None or hidden is None:
        return []
    base = ""
    if not any(k.startswith("embeddings.") for k in keys):
        heads = {k.split(".", 1)[0] for k in keys if k.split(".", 2)[1:2] == ["embeddings"]}
        if len(heads) != 1:
            return []
        base = heads.pop() + "."
    children: dict[str, set[str]] = {}
    for key in keys:
        if not key.startswith(base):
            continue
        parts = key[len(base):].split(".")
        for i, part in enumerate(parts[:-1]):
            if part.isdigit() and i > 0:
                children.setdefault(".".join(parts[:i]), set()).add(part)
    lists = [p for p, idx in children.items() if idx == {str(i) for i in range(count)}]
    if not lists:
        return []
    depth = min(p.count(".") for p in lists)
    shallowest = [p for p in lists if p.count(".") == depth]
    if len(shallowest) != 1:
        return []  # two candidates at one depth: the adapter would pick by module order, which the keys do not give
    prefix = shallowest[0]
    stages = [{"name": "embeddings", "channels": hidden, "stride": 1}] if any(k.startswith(base + "embeddings.") for k in keys) else []
    return stages + [{"name": f"{prefix}.{i}", "channels": hidden, "stride": 1} for i in range(count)]


def _timm(root: Path, files: list[str], config: dict[str, Any], task: str | None) -> dict[str, Any]:
    if "model.safetensors" not in files:
        raise FolderImportError(
            f"{root}: a timm config.json without model.safetensors; save with "
            "timm.models.save_for_hf(model, DIR, safe_serialization=True) and import again", path=str(root), reason="layout",
        )
    cfg = config["pretrained_cfg"] if isinstance(config["pretrained_cfg"], dict) else {}
    arch = config["architecture"]
    if not isinstance(arch, str) or not arch:
        raise FolderImportError(f"{root / 'config.json'}: 'architecture' is not a timm model name", path=str(root / "config.json"), reason="malformed")
    args: dict[str, Any] = {}
    model_args = config.get("model_args") or {}
    for key, value in (model_args.items() if isinstance(model_args, dict) else ()):
        if not isinstance(value, (str, int, float, bool)):
            raise FolderImportError(
                f"{root / 'config.json'}: model_args {key!r} is {value!r}; a registry's arch_args take single values "
                "only, so write this entry by hand", path=str(root / "config.json"), reason="layout",
            )
        args[key] = value
    classes = config.get("num_classes", cfg.get("num_classes"))
    if isinstance(classes, int) and not isinstance(classes, bool):
        args["num_classes"] = classes
    spec: dict[str, Any] = {}
    shape = cfg.get("input_size")
    if isinstance(shape, list) and len(shape) == 3:
        spec["shape"] = shape
    for key in ("mean", "std"):
        if isinstance(cfg.get(key), list):
            spec[key] = [float(x) for x in cfg[key]]
    if cfg.get("interpolation") in ("nearest", "bilinear", "bicubic"):
        spec["interpolation"] = cfg["interpolation"]
    if isinstance(cfg.get("crop_pct"), (int, float)):
        spec["crop_pct"] = float(cfg["crop_pct"])
    params, _ = _params(root, files)
    notes = []
    if cfg.get("crop_mode") not in (None, "center"):
        notes.append(f"pretrained_cfg crop_mode is {cfg['crop_mode']!r}; zoo's preprocessing crops at the center")
    return {
        "adapter": "timm",
        "arch": arch,
        "arch_args": args,
        "modality": "vision",
        "task": _check_task(task, "image-classification" if args.get("num_classes") else "feature-extraction"),
        "architecture": arch,
        "params": params,
        "input": spec,
        "_notes": notes,
        # timm's pretrained_cfg carries the weights' license (what save_for_hf keeps of its source's).
        "_license": cfg["license"] if isinstance(cfg.get("license"), str) and cfg["license"].strip() else None,
    }


def _one_onnx(root: Path, files: list[str]) -> Path:
    models = [f for f in files if f.endswith(".onnx")]
    if len(models) == 1:
        return root / models[0]
    if models:
        raise FolderImportError(
            f"{root}: {len(models)} .onnx files ({', '.join(models[:4])}); give the path of the one to import",
            path=str(root), reason="layout",
        )
    raise FolderImportError(f"{root}: not a model folder zoo recognises; {_LAYOUT_HELP}", path=str(root), reason="layout")


def _onnx(root: Path, path: Path, task: str | None, mean: Sequence[float] | None, std: Sequence[float] | None) -> dict[str, Any]:
    from zoo._onnx_files import check_onnx_file, read_onnx

    check_onnx_file(path)  # external data inside the folder, sizes within limits, a real graph
    model = read_onnx(path)
    weights = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    files = {path.relative_to(root).as_posix()}
    params = 0
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                files.add((path.parent.relative_to(root) / entry.value).as_posix())
        if t.data_type in (1, 10, 11, 16):  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
            n = 1
            for d in t.dims:
                n *= int(d)
            params += n
    dims = [[d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim] for i in inputs]
    spec: dict[str, Any] = {}
    notes = []
    if len(inputs) == 1 and len(dims[0]) == 4 and inputs[0].type.tensor_type.elem_type in (1, 10, 16):
        modality = "vision"
        chw = dims[0][1:]
        if all(chw):
            spec["shape"] = chw
        else:
            notes.append("the graph's image size is dynamic; add input: {shape: [C, H, W]} to the entry to embed or export it")
        if (mean is None) != (std is None):
            raise InvalidOptionError("give --mean and --std together (one value per channel each), or neither")
        if mean is not None and std is not None:
            spec["mean"], spec["std"] = [float(x) for x in mean], [float(x) for x in std]
        else:
            notes.append("an ONNX graph does not say how images are normalised; give --mean and --std to embed images")
    elif inputs and all(i.type.tensor_type.elem_type in (6, 7) for i in inputs) and "input_ids" in {i.name for i in inputs}:
        modality = "text"
        present = [t for t in (*_TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json", "merges.txt") if (path.parent / t).is_file()]
        files.update((path.parent.relative_to(root) / t).as_posix() for t in present)
        tokenizer = next((t for t in _TOKENIZER_FILES if t in present), None)
        if tokenizer is not None:
            spec["tokenizer"] = (path.parent.relative_to(root) / tokenizer).as_posix()
        else:
            notes.append("no tokenizer files beside the graph (tokenizer.json ...); texts cannot be tokenized")
    else:
        described = ", ".join(f"{i.name} {dims[n]}" for n, i in enumerate(inputs)) or "none"
        raise FolderImportError(
            f"{path}: its inputs ({described}) are neither one image batch (N, C, H, W) nor token ids (input_ids); "
            "zoo cannot tell what the model takes, so write this entry by hand",
            path=str(path), reason="layout",
        )
    return {
        "adapter": "onnx",
        "arch": path.stem,
        "modality": modality,
        "task": _check_task(task, "feature-extraction"),
        "architecture": path.stem,
        "params": params,
        "input": spec,
        "_files": sorted(files),
        "_notes": notes,
    }


def _validate(root: Path, name: str, entry: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from zoo.registry._load import _pydantic_issue
    from zoo.schema import RegistryFile

    try:
        RegistryFile.model_validate({"schema_version": 1, "models": {name: entry}})
    except ValidationError as exc:
        raise RegistryError([_pydantic_issue(f"{root} (import-folder)", e) for e in exc.errors(include_url=False)]) from None
