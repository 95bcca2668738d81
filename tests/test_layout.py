"""The cache layout owns its areas (zoo/_layout.py): typed paths from one root, gc rules as code, trust-on-first-use
records in zoo/_tofu.py, one function for a mirror blob's path; a Cache handed to export, embed and stages is where
their files go."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO, write_registry
from models import TIMM_STAGES, serve, timm_resnet18, vision_entry
from sample_data import digits_folder

import zoo
from zoo import _layout
from zoo.cache import Cache
from zoo.transfer import embed

# ---- nobody but the layout spells an area or the mirror layout ----------------------------------------------------

AREA_NAMES = {a.name for a in _layout.AREAS} | {_layout.MIRROR_BLOBS}
# (file, name) pairs that are not the cache's: the static site writes its own models/ pages folder.
NOT_THE_CACHE = {("zoo/site/__init__.py", "models")}
_PATH_CALLS = {"joinpath", "join", "Path", "PurePath", "PurePosixPath", "area", "path", "lock"}


def _first_segment(text: str) -> str:
    return text.lstrip("/").split("/")[0]


def _segment(node: ast.AST) -> str | None:
    """The area a path operand starts with: ``"exports"``, ``"tofu/hf"``, ``f"sha256/{x}"``; None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _first_segment(node.value) in AREA_NAMES else None
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        head = str(node.values[0].value)
        return head if "/" in head and _first_segment(head) in AREA_NAMES else None
    return None


def _mirror_in_text(node: ast.AST) -> str | None:
    """Text that builds a mirror path: ``f"{base}/sha256/{hex}"``, ``f"sha256/{hex}"``, ``base + "/sha256/"``."""
    parts = node.values if isinstance(node, ast.JoinedStr) else [node]
    for i, part in enumerate(parts):
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            text = part.value
            if f"/{_layout.MIRROR_BLOBS}/" in text or (i == 0 and text.startswith(f"{_layout.MIRROR_BLOBS}/")):
                return text
    return None


def spelled_areas(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module spells a cache area (or a mirror's ``sha256/``) as a path segment."""
    found = []
    for node in ast.walk(tree):
        hit = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            hit = _segment(node.left) or _segment(node.right)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            hit = _mirror_in_text(node.left) or _mirror_in_text(node.right)
        elif isinstance(node, ast.JoinedStr):
            hit = _mirror_in_text(node)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in _PATH_CALLS:
                hit = next((s for s in map(_segment, node.args) if s is not None), None)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value in AREA_NAMES:
            if all(isinstance(t, ast.Name) for t in node.targets):
                hit = str(node.value.value)  # BLOBS = "sha256", then root / BLOBS
        if hit is not None:
            found.append((node.lineno, hit))
    return found


def test_only_the_layout_spells_cache_areas_and_the_mirror_layout() -> None:
    problems = []
    for path in sorted((REPO / "zoo").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "zoo/_layout.py":
            continue
        for line, hit in spelled_areas(ast.parse(path.read_text())):
            if (rel, _first_segment(hit)) not in NOT_THE_CACHE:
                problems.append(f"{rel}:{line} spells {hit!r}; take the path from zoo._layout (Layout, mirror_blob)")
    assert problems == []


@pytest.mark.parametrize(
    "code",
    [
        'p = home() / "exports" / key',
        'p = root / "tofu/hf" / repo',
        'p = cache.area("vectors") / sha',
        'p = _layout.area(root, "locks")',
        'p = Path(root, "sessions")',
        'p = os.path.join(root, "stages", key)',
        'p = root / "sha256" / digest',
        'url = base.rstrip("/") + f"/sha256/{digest}"',
        'key = location.path(f"sha256/{digest}")',
        'BLOBS = "sha256"',
    ],
)
def test_area_check_catches_a_spelled_area(code: str) -> None:
    assert spelled_areas(ast.parse(code)), code


def test_area_check_leaves_data_keys_and_messages_alone() -> None:
    code = (
        'x = f["sha256"]; y = {"models": 1}; z = doc["index"]\n'
        'm = f"not there (no sha256/{digest[:12]})"\n'
        'p = layout.export(key); q = root / mirror_blob(digest)\n'
    )
    assert spelled_areas(ast.parse(code)) == []


# ---- typed paths ----------------------------------------------------------------------------------------------------


def test_every_area_has_its_typed_paths_under_one_root(tmp_path: Path) -> None:
    layout = _layout.Layout(tmp_path)
    under = {
        "blobs": layout.blob("ab" * 32), "models": layout.model("m", "v"), "locks": layout.use_lock,
        "tofu": layout.hub_pin("org/repo", "a/b.bin"), "tmp": layout.tmp, "index": layout.index,
        "stages": layout.stage_set("k"), "exports": layout.export("k"), "sessions": layout.session("s.onnx"),
        "vectors": layout.vectors_of("ab" * 32), "embeds": layout.embed_job("k"),
    }
    assert set(under) == {a.name for a in _layout.AREAS}
    for name, path in under.items():
        assert path.relative_to(tmp_path).parts[0] == name
    # The cache's blobs area is laid out as a mirror: the shared-cache tier reads it as one.
    assert layout.blob("cd" * 32) == layout.blobs_area / _layout.mirror_blob("cd" * 32)
    assert layout.partial("ab" * 32).parent == layout.blobs
    assert Cache(tmp_path).blob_path("ab" * 32) == layout.blob("ab" * 32)


def test_the_current_layout_is_the_handed_cache_else_zoo_home(tmp_path: Path, zoo_env: Path) -> None:
    assert _layout.current().root == zoo_env and Cache().root == zoo_env
    with Cache(tmp_path).in_use():
        assert _layout.current().root == tmp_path and Cache().root == tmp_path
    assert _layout.current().root == zoo_env


# ---- gc rules are code ------------------------------------------------------------------------------------------------


def test_gc_runs_each_areas_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache.gc has no rules of its own: swap an area's rules and gc does what they say, there."""
    seen: list[tuple[str, bool]] = []
    record = _layout.Rule("records", lambda folder, sweep: seen.append((folder.name, sweep.idle)))
    only_derived = _layout.Rule("records with --derived", lambda folder, sweep: seen.append((folder.name + "+", sweep.idle)), derived=True)
    areas = tuple(
        _layout.Area(a.name, a.holds, (record, only_derived) if a.name == "sessions" else ()) for a in _layout.AREAS
    )
    monkeypatch.setattr(_layout, "AREAS", areas)
    stale = tmp_path / "tmp" / "export-nohost-1-000000000000"
    stale.mkdir(parents=True)
    Cache(tmp_path).gc()
    assert seen == [("sessions", True)] and stale.is_dir()  # tmp's rules were swapped out too
    Cache(tmp_path).gc(derived=True)
    assert seen[1:] == [("sessions", True), ("sessions+", True)]


def test_the_derived_areas_and_the_gc_prose_come_from_the_rules() -> None:
    by_name = {a.name: a for a in _layout.AREAS}
    assert _layout.DERIVED == ("stages", "exports", "sessions", "vectors", "embeds")
    assert all(isinstance(rule, _layout.Rule) for a in _layout.AREAS for rule in a.gc)
    assert by_name["locks"].policy == "nothing" and by_name["index"].policy == "nothing"
    assert "unreferenced blobs" in by_name["blobs"].policy and not by_name["blobs"].derived
    assert by_name["vectors"].gc[1] is _layout.ORPHANS


# ---- trust on first use lives in zoo/_tofu.py -----------------------------------------------------------------------


def test_trust_on_first_use_records_are_read_and_written_by_tofu_alone() -> None:
    """Only zoo/_tofu.py asks the layout where a record is, and zoo/cache.py only delegates to it."""
    record_paths = {"hub_pin", "weak_pin", "snapshot_listing"}
    problems = []
    for path in sorted((REPO / "zoo").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in ("zoo/_tofu.py", "zoo/_layout.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # layout.hub_pin(repo, file) is the record's path; Cache.hub_pin(file) is the delegating reader.
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in record_paths:
                if getattr(node.func.value, "id", "") != "_tofu" and (node.func.attr != "hub_pin" or len(node.args) != 1):
                    problems.append(f"{rel}:{node.lineno} asks for a record's path ({node.func.attr})")
    assert problems == []
    tree = ast.parse((REPO / "zoo" / "cache.py").read_text())
    cache_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Cache")
    methods = {n.name: n for n in cache_class.body if isinstance(n, ast.FunctionDef)}
    for name in ("record_path", "hub_pin", "recall", "expected", "adopt_record", "remember", "record"):
        body = [s for s in methods[name].body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        calls = [n for n in ast.walk(body[0]) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
        assert len(body) == 1 and any(getattr(c.func.value, "id", "") == "_tofu" for c in calls), f"Cache.{name} is not a delegate"


def test_a_snapshot_listing_round_trips_through_tofu(tmp_path: Path) -> None:
    from zoo import _tofu

    layout = _layout.Layout(tmp_path)
    files = [{"path": "config.json", "size": 3, "blob_id": "a" * 40}, {"path": "m.safetensors", "size": 9, "sha256": "b" * 64}]
    _tofu.write_listing(layout, "org/repo", "c" * 40, files, ["model.bin"])
    assert layout.snapshot_listing("org/repo", "c" * 40).is_file()
    assert _tofu.read_listing(layout, "org/repo", "c" * 40) == (files, ["model.bin"])
    assert _tofu.read_listing(layout, "org/repo", "d" * 40) is None


# ---- a handed Cache is where export, embed and stages put their files ------------------------------------------------

MODEL = "layout-timm"


@pytest.fixture(scope="module")
def timm_bytes(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return timm_resnet18(tmp_path_factory.mktemp("timm_layout"), seed=7)


def _areas(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def test_a_handed_cache_gets_the_stages_export_and_embedding_files(timm_bytes, https_server, tmp_path, zoo_env) -> None:  # noqa: ANN001
    entry = vision_entry("timm", "resnet18", [serve(https_server, "model.safetensors", timm_bytes[1])], TIMM_STAGES, size=64)
    reg = write_registry(tmp_path / "reg.yaml", {MODEL: entry})
    zoo.info(MODEL, registries=[reg])  # the catalog is read once, from ZOO_HOME's index
    home_before = _areas(zoo_env)
    root = tmp_path / "handed"
    cache = Cache(root)

    stages = zoo.stages(MODEL, registries=[reg], cache=cache)
    assert [s.name for s in stages][-1] == "layer4"
    assert len(list((root / "stages").glob("*.json"))) == 1

    out = zoo.export(MODEL, "layer2", tmp_path / "r.onnx", registries=[reg], exporter="torchscript", cache=cache)
    assert out.path.is_file() and len(list((root / "exports").glob("*.onnx"))) == 1
    assert len(list(cache.iter_blobs())) == 1 and cache.versions()[0].name == MODEL  # the pull went there too

    digits = digits_folder(tmp_path / "digits", n=8)
    result = embed(MODEL, digits, tmp_path / "e.parquet", until="layer2", registries=[reg], batch_size=4, cache=cache)
    assert result.rows == 8
    assert list((root / "sessions").glob("*.onnx")) and list((root / "locks").glob("embed-*.lock"))

    assert _areas(zoo_env) == home_before, "ZOO_HOME was written although a cache was handed"
    assert Cache(zoo_env).versions() == []
