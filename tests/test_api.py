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


# ---- the import graph: no loops, no private names across packages ----------------------------------


def _zoo_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((REPO / "zoo").rglob("*.py"))}


def _type_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (imports there never run)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def _runtime_imports(module: str, tree: ast.AST, known: set[str]) -> list[tuple[int, str, str | None]]:
    """``(line, module imported, name or None)`` of every zoo import that runs, at module level or inside a function.

    ``from zoo.a import b`` names the submodule ``zoo.a.b`` when there is one,
    else ``zoo.a`` and the name ``b``; relative imports are resolved against ``module``.
    """
    package = module if module in known and _is_package(module) else module.rpartition(".")[0]
    skip = _type_only(tree)
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "zoo"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] != "zoo":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub, None) if sub in known else (node.lineno, base, alias.name))
    return found


def _is_package(module: str) -> bool:
    return (REPO / module.replace(".", "/") / "__init__.py").is_file()


def _import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the zoo modules its imports run (importing ``zoo.a.b`` also runs ``zoo/a/__init__``, unless the importer is inside ``zoo.a``)."""
    known = set(sources)
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for module, text in sources.items():
        for _, target, _ in _runtime_imports(module, ast.parse(text), known):
            while target and target not in known:  # "import zoo.a.b.c" where c is a name: the module is zoo.a.b
                target = target.rpartition(".")[0]
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                step = ".".join(parts[:i])
                if step not in known or step == module:
                    continue
                if step != target and module.startswith(step + "."):
                    continue  # a package the importer is inside: being imported already, not by this import
                graph[module].add(step)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_import_graph_has_no_cycle() -> None:
    """No two modules of zoo/ import each other, directly or through others.

    The rule: every import that can run counts, at module level or inside a
    function, since a function-level import back into a module that imports
    you is the same loop, only hidden until the function runs (laziness for a
    heavy dependency such as torch never needs one: the shared code moves to a
    module both import). Only type-only imports (under ``if TYPE_CHECKING:``)
    are left out. Importing ``zoo.a.b`` runs ``zoo/a/__init__.py`` as well, so
    that is an edge too, except from inside ``zoo.a`` (a package's own
    modules are imported by its ``__init__``, not the other way round).
    """
    sources = {module: path.read_text() for module, path in _zoo_modules().items()}
    cycles = _cycles(_import_graph(sources))
    assert cycles == [], "import loops (split the shared part into a module both import): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_check_catches_a_loop() -> None:
    sources = {
        "zoo": "",
        "zoo.a": "from zoo.a._x import f\n",
        "zoo.a._x": "def f():\n    from zoo.a._y import g\n",
        "zoo.a._y": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zoo.b import h\nfrom zoo.a._x import f\n",
        "zoo.b": "from zoo.a import f\n",
    }
    assert _cycles(_import_graph(sources)) == [["zoo.a._x", "zoo.a._y"]]
    sources["zoo.a._y"] = "from zoo.b import h\n"  # zoo.b imports zoo.a, whose __init__ imports _x, which imports _y
    assert _cycles(_import_graph(sources)) == [["zoo.a", "zoo.a._x", "zoo.a._y", "zoo.b"]]
    sources["zoo.a._x"] = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zoo.a._y import g\n"
    assert _cycles(_import_graph(sources)) == []


# A private module or name used across packages, each with why it cannot be public: (importer, what it imports).
PRIVATE_ACROSS_ALLOWED: set[tuple[str, str]] = set()


def _private_owner(target: str, name: str | None, known: set[str]) -> str | None:
    """The package (or root-level module) that a private ``target``/``name`` belongs to; None when nothing is private.

    ``zoo.b._x`` belongs to ``zoo.b``; a private name of a package belongs to
    the package, of a module inside a package to that package (siblings may
    share it), of a root-level module (``zoo.features``) to that module alone.
    Root-level private modules (``zoo._settings``, ``zoo._ort``) are zoo's
    shared lower layers, open to every package.
    """
    parts = target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            return None if owner == "zoo" else owner
    if name is None or not name.startswith("_") or name.startswith("__"):
        return None
    if target in known and _is_package(target) or target.count(".") == 1:
        return target
    return target.rpartition(".")[0]


def _private_imports(sources: dict[str, str]) -> list[str]:
    known = set(sources)
    problems = []
    for module, text in sorted(sources.items()):
        for lineno, target, name in sorted(_runtime_imports(module, ast.parse(text), known), key=lambda found: found[0]):
            owner = _private_owner(target, name, known)
            what = f"{target}.{name}" if name else target
            if owner is None or module == owner or module.startswith(owner + ".") or (module, what) in PRIVATE_ACROSS_ALLOWED:
                continue
            problems.append(f"{module}:{lineno} imports {what}, private to {owner}")
    return problems


def test_no_private_name_is_imported_across_packages() -> None:
    """A module under zoo/a/ never imports ``zoo.b._x``, ``from zoo.b._x import ...`` or ``from zoo.b import _y``.

    What another package needs is public where it is shared (re-exported from
    the package, or a root-level layer-0 module such as ``zoo._ort``).
    Type-only imports count too: a private class in an annotation is still
    reaching into another package.
    """
    sources = {module: path.read_text() for module, path in _zoo_modules().items()}
    assert _private_imports({m: _strip_type_checking_guard(t) for m, t in sources.items()}) == []


def _strip_type_checking_guard(text: str) -> str:
    """The source with ``if TYPE_CHECKING:`` made ``if True:``, so type-only imports are checked like the rest."""
    return text.replace("if TYPE_CHECKING:", "if True:")


def test_private_import_check_catches_a_reach() -> None:
    sources = {
        "zoo": "",
        "zoo._settings": "",
        "zoo.features": "def _build(): ...\ndef build(): ...\n",
        "zoo.adapters": "from zoo.adapters._onnx import ort_session\n",
        "zoo.adapters._onnx": "def ort_session(): ...\n",
        "zoo.adapters._base": "from zoo.adapters._onnx import ort_session\nfrom zoo.adapters import _onnx\n",  # siblings: fine
        "zoo.exporter._export": (
            "from zoo import _settings\nfrom zoo.adapters import ort_session\nfrom zoo.features import build\n"  # fine
            "from zoo.features import _build\n"
            "def f():\n    from zoo.adapters._onnx import ort_session\n"
            "import zoo.adapters._onnx\n"
            "from zoo.adapters import _onnx\n"
        ),
    }
    assert _private_imports(sources) == [
        "zoo.exporter._export:4 imports zoo.features._build, private to zoo.features",
        "zoo.exporter._export:6 imports zoo.adapters._onnx.ort_session, private to zoo.adapters",
        "zoo.exporter._export:7 imports zoo.adapters._onnx, private to zoo.adapters",
        "zoo.exporter._export:8 imports zoo.adapters._onnx, private to zoo.adapters",
    ]


# Files that grow past this do several jobs: split them into a package, one module per job (as zoo/caffe/,
# zoo/vectors/). zoo/caffe/layers.py, one class per layer type, is the largest module that does one.
MAX_MODULE_LINES = 1000


def test_no_module_does_several_jobs_by_size() -> None:
    """No module of zoo/ is over MAX_MODULE_LINES lines (vectors.py was 1,062: decompression, three parsers, safetensors, lookups)."""
    long = {str(p.relative_to(REPO)): n for p in (REPO / "zoo").rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these into a package, one module per job: {long}"


def test_vectors_is_a_package_with_its_public_names() -> None:
    from zoo import vectors

    assert Path(vectors.__file__).name == "__init__.py"
    for name in [*vectors.__all__, "VECTORS_FILE", "VOCAB_FILE", "REPORT_FILE"]:
        assert hasattr(vectors, name), name
    assert vectors.KeyedVectors.__module__ == "zoo.vectors._keyed" and vectors.parse.__module__ == "zoo.vectors._parse"


def test_archive_member_checks_need_no_pydantic(zoo_env: Path, tmp_path: Path) -> None:
    """unsafe_member lives in the layer-0 zoo/_paths.py: a zip of vectors and the wheel pull check members without pydantic."""
    import zipfile

    from zoo import _paths, schema

    assert schema.unsafe_member is _paths.unsafe_member  # still importable from the schema
    archive = tmp_path / "glove.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("glove.txt", "king 1 0\nqueen 0.9 0.1\n")
    loaded = _modules_after(f"from zoo import vectors\nassert vectors.parse({str(archive)!r}).words == ['king', 'queen']", zoo_env)
    assert "zoo._paths" in loaded and "zoo.schema" not in loaded and "pydantic" not in loaded
    # The wheel pull needs an index to run: its imports are read instead.
    known = set(_zoo_modules())
    pypi = {target for _, target, _ in _runtime_imports("zoo.fetch._pypi", ast.parse((REPO / "zoo/fetch/_pypi.py").read_text()), known)}
    assert "zoo._paths" in pypi and "zoo.schema" not in pypi
    imports = [n for n in ast.walk(ast.parse((REPO / "zoo/_paths.py").read_text())) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert {ast.unparse(n) for n in imports} == {"from __future__ import annotations", "import re"}  # the standard library only


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
