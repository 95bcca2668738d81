"""The public surface, the import-light promise, the layering, and library hygiene."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import zoo
from zoo import errors

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "torchvision", "timm", "transformers", "onnx", "onnxruntime", "onnxscript", "safetensors"]


def test_public_api_is_pinned() -> None:
    assert sorted(zoo.__all__) == sorted(
        [
            "__version__",
            "Cache",
            "ModelId",
            "ModelInfo",
            "ModelSummary",
            "Stage",
            "build_site",
            "compare",
            "embed",
            "encode",
            "export",
            "export_classifier",
            "info",
            "list_models",
            "load",
            "load_vectors",
            "lock_models",
            "parse_model_id",
            "preprocess",
            "probe",
            "pull",
            "search",
            "session",
            "stages",
            "tokenizer",
            "validate_registry",
            "verify",
        ]
    )
    for name in zoo.__all__:
        assert hasattr(zoo, name), name


def test_lazy_functions_survive_submodule_imports() -> None:
    # A submodule named like a public function would replace it on import.
    import importlib

    for name, (module, _) in zoo._LAZY.items():
        importlib.import_module(module)
        assert module.rsplit(".", 1)[1] != name, f"zoo.{name} is shadowed by the submodule {module}"
        assert getattr(zoo, name) is getattr(importlib.import_module(module), name)


def test_errors_inherit_builtins() -> None:
    assert issubclass(errors.ModelNotFoundError, KeyError)
    assert issubclass(errors.VersionNotFoundError, KeyError)
    assert issubclass(errors.RegistryError, ValueError)
    assert issubclass(errors.ChecksumMismatchError, ValueError)
    assert issubclass(errors.DownloadError, OSError)
    assert issubclass(errors.OfflineError, errors.DownloadError)
    assert issubclass(errors.ParityError, errors.ExportError)
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            assert issubclass(cls, errors.ZooError), name
    # KeyError would quote the message; ours reads as a sentence.
    assert str(errors.ModelNotFoundError("x")).startswith("No model named 'x'")


def _modules_after(code: str, env_home: Path) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"ZOO_HOME": str(env_home), "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_zoo_is_light(zoo_env: Path) -> None:
    loaded = _modules_after("import zoo", zoo_env)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    assert "pydantic" not in loaded and "yaml" not in loaded
    assert "zoo.fetch" not in loaded and "httpx" not in loaded


def test_cli_list_is_light(zoo_env: Path) -> None:
    code = (
        "from zoo_cli.main import cli\n"
        "for args in (['list'], ['search', 'resnet'], ['info', 'resnet50']):\n"
        "    try:\n"
        "        cli.main(args=args, prog_name='zoo', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    _modules_after(code, zoo_env)  # first run builds the index (imports pydantic)
    loaded = _modules_after(code, zoo_env)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    # With a valid index, neither YAML nor pydantic (nor httpx) is needed.
    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "yaml", "httpx", "huggingface_hub")}


# Lower layers never import higher ones. Every module of zoo/ must be placed here.
LAYERS = {
    "zoo.errors": 0,
    "zoo._version": 0,
    "zoo._settings": 0,
    "zoo._ids": 0,
    "zoo._hashing": 0,
    "zoo._plugins": 0,
    "zoo._defaults": 0,
    "zoo._atomic": 0,
    "zoo._layout": 0,
    "zoo._tofu": 3,
    "zoo._locks": 0,
    "zoo._onnx_files": 0,
    "zoo._units": 0,
    "zoo._ort": 0,
    "zoo._paths": 0,
    "zoo.schema": 1,
    "zoo.registry": 2,
    "zoo.site": 6,
    "zoo.cache": 3,
    "zoo.fetch": 3,
    "zoo.resolve": 3,
    "zoo.mirror": 3,
    "zoo._stages": 3,
    "zoo.adapters": 4,
    "zoo.vectors": 4,
    "zoo.datasets": 4,
    "zoo.caffe": 4,
    "zoo.features": 5,
    "zoo.exporter": 5,
    "zoo.transfer": 6,
    "zoo": 9,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer_of(module: str) -> int | None:
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
    return None


def _zoo_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] in ("zoo", "zoo_cli")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in ("zoo", "zoo_cli"):
                # "from zoo import registry" imports the submodule zoo.registry;
                # "from zoo import info" imports the package root.
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.append((node.lineno, sub if _layer_of(sub) is not None and sub in LAYERS else node.module))
    return found


def test_layering() -> None:
    problems = []
    for path in sorted((REPO / "zoo").rglob("*.py")):
        module = _module_name(path)
        own = _layer_of(module)
        if own is None:
            problems.append(f"{module}: not placed in LAYERS; add it with its layer")
            continue
        for lineno, imported in _zoo_imports(ast.parse(path.read_text())):
            if imported.startswith("zoo_cli"):
                problems.append(f"{module}:{lineno} imports the CLI ({imported})")
                continue
            if imported == "zoo" and module != "zoo":
                problems.append(f"{module}:{lineno} imports the package root; import the submodule")
                continue
            target = _layer_of(imported)
            if target is not None and target > own and module != "zoo":
                problems.append(f"{module}:{lineno} imports {imported} (layer {target} > {own})")
    assert problems == []


def test_layering_check_catches_a_violation() -> None:
    tree = ast.parse("def f():\n    from zoo.registry import load_catalog\n")
    assert _zoo_imports(tree) == [(2, "zoo.registry")]
    tree = ast.parse("from zoo import _settings, info\n")
    assert _zoo_imports(tree) == [(1, "zoo._settings"), (1, "zoo")]
    assert _layer_of("zoo.registry") > _layer_of("zoo.schema")  # type: ignore[operator]


def test_library_has_no_print_assert_or_exit() -> None:
    problems = []
    for path in sorted((REPO / "zoo").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                problems.append(f"{path.name}:{node.lineno} assert")
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in ("print", "exit", "quit"):
                    problems.append(f"{path.name}:{node.lineno} {func.id}()")
                if isinstance(func, ast.Attribute) and func.attr == "exit" and getattr(func.value, "id", "") == "sys":
                    problems.append(f"{path.name}:{node.lineno} sys.exit()")
    assert problems == []


def test_only_safe_yaml_loading() -> None:
    for path in sorted((REPO / "zoo").rglob("*.py")):
        text = path.read_text()
        assert "yaml.load(" not in text or "Loader=_yaml_loader()" in text, path
        assert "yaml.unsafe_load" not in text and "FullLoader" not in text, path


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject lists packages by hand: a new subpackage of zoo/ must be listed, or the wheel lacks it."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "zoo").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
