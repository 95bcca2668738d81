"""Hardening case 7 (issue 13): hostile ONNX files are refused before anything loads them.

Every file here is a real ONNX model made with ``onnx.helper``; the hostile part
is one field of it (an external-data ``location``, a declared size, a node
input). The checks read only the protobuf, so each refusal also proves the
data it names was never read: the outside files they point at declare sizes
that could not be loaded.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import file_entry, run_zoo, write_registry
from onnx import TensorProto, helper, numpy_helper

from zoo import _onnx_files
from zoo._onnx_files import check_onnx_file, load_onnx, read_onnx
from zoo.errors import InvalidOptionError, OnnxFormatError, UnsafeFileError
from zoo.resolve import import_folder

pytestmark = pytest.mark.hardening(case=7, name="hostile ONNX files")

TEN_GB = 50_000 * 50_000 * 4


@pytest.fixture(autouse=True)
def _fresh_memo() -> None:
    """Each test sees the checks run (files that passed are remembered per process)."""
    _onnx_files._PASSED.clear()


def add_model(weight: np.ndarray | None = None, *, nodes: list[Any] | None = None, extra: list[Any] = ()) -> onnx.ModelProto:
    """y = x + w (float32 [2, 3]), w an initializer; or the given nodes between x and y."""
    w = np.arange(6, dtype=np.float32).reshape(2, 3) if weight is None else weight
    init = [numpy_helper.from_array(w, "w"), *extra]
    graph = helper.make_graph(
        nodes or [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        init,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def make_external(tensor: TensorProto, location: str, offset: int | None = None, length: int | None = None) -> TensorProto:
    """Marks a tensor's data as living at ``location`` (the bytes are dropped from the proto)."""
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    return tensor


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def huge_weight(location: str) -> onnx.ModelProto:
    """A model whose initializer declares [50000, 50000] float32 (10 GB), at ``location``, all of it."""
    model = add_model()
    w = model.graph.initializer[0]
    del w.dims[:]
    w.dims.extend([50_000, 50_000])
    make_external(w, location, 0, TEN_GB)
    return model


# ---- external data: where it lives ------------------------------------------------


@pytest.mark.parametrize("location", ["../../outside.bin", "sub/../../../outside.bin", "..\\..\\outside.bin"])
def test_location_climbing_out_of_the_folder_is_refused(tmp_path: Path, location: str) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret" * 100)
    before = (outside.read_bytes(), outside.stat().st_mtime_ns)
    path = save(huge_weight(location), tmp_path / "a" / "b" / "model.onnx")
    with pytest.raises(UnsafeFileError) as caught:
        load_onnx(path)
    err = caught.value
    assert (err.reason, err.target, err.path) == ("path-escape", location, str(path))
    assert str(path) in str(err) and "'w'" in str(err) and "not opened" in str(err)
    # A read of the 10 GB the tensor declares would have failed or allocated; nothing touched the file.
    assert (outside.read_bytes(), outside.stat().st_mtime_ns) == before


def test_absolute_location_is_refused(tmp_path: Path) -> None:
    path = save(huge_weight("/etc/passwd"), tmp_path / "model.onnx")
    with pytest.raises(UnsafeFileError) as caught:
        check_onnx_file(path)
    assert (caught.value.reason, caught.value.target) == ("absolute-path", "/etc/passwd")
    assert "absolute path" in str(caught.value) and str(path) in str(caught.value)


def test_symlinked_data_file_leading_out_is_refused_unless_into_a_trusted_folder(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    w = np.full((2, 3), 0.5, dtype=np.float32)
    (store / "blob").write_bytes(w.tobytes())
    model = add_model()
    make_external(model.graph.initializer[0], "model.onnx.data", 0, w.nbytes)
    path = save(model, tmp_path / "m" / "model.onnx")
    (path.parent / "model.onnx.data").symlink_to(store / "blob")
    with pytest.raises(UnsafeFileError) as caught:
        check_onnx_file(path)
    assert (caught.value.reason, caught.value.target) == ("symlink", "model.onnx.data")
    assert str(store / "blob") in str(caught.value)
    # zoo's own cache is such a folder of links into the blob store: trusted, it loads (onnx.load refuses it).
    loaded = load_onnx(path, trusted_roots=[store])
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), w)


def test_symlinked_folder_component_is_caught_too(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.bin").write_bytes(bytes(24))
    model = add_model()
    make_external(model.graph.initializer[0], "sub/w.bin", 0, 24)
    path = save(model, tmp_path / "m" / "model.onnx")
    (path.parent / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeFileError) as caught:
        check_onnx_file(path)
    assert caught.value.reason == "symlink"


def test_data_range_past_the_end_of_the_data_file_is_refused(tmp_path: Path) -> None:
    model = add_model()
    make_external(model.graph.initializer[0], "w.bin", 16, 24)
    path = save(model, tmp_path / "model.onnx")
    (tmp_path / "w.bin").write_bytes(bytes(30))
    with pytest.raises(UnsafeFileError) as caught:
        check_onnx_file(path)
    err = caught.value
    assert (err.reason, err.target, err.size, err.limit) == ("too-large", "w.bin", 40, 30)
    assert "past the end" in str(err)


def test_missing_data_file_is_a_format_error(tmp_path: Path) -> None:
    model = add_model()
    make_external(model.graph.initializer[0], "gone.bin", 0, 24)
    path = save(model, tmp_path / "model.onnx")
    with pytest.raises(OnnxFormatError) as caught:
        check_onnx_file(path)
    assert caught.value.reason == "missing external data" and "gone.bin" in str(caught.value)


def test_tensors_in_attributes_subgraphs_and_sparse_initializers_are_checked(tmp_path: Path) -> None:
    const = numpy_helper.from_array(np.ones(3, np.float32), "c")
    make_external(const, "../c.bin", 0, 12)
    nodes = [helper.make_node("Constant", [], ["k"], name="const", value=const), helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    with pytest.raises(UnsafeFileError, match="attribute 'value' of node 'const'") as caught:
        check_onnx_file(save(add_model(nodes=nodes), tmp_path / "attr" / "model.onnx"))
    assert caught.value.reason == "path-escape"

    inner_w = make_external(numpy_helper.from_array(np.ones(3, np.float32), "iw"), "/dev/zero", 0, 12)
    branch = helper.make_graph([helper.make_node("Identity", ["iw"], ["o"])], "b", [], [helper.make_tensor_value_info("o", TensorProto.FLOAT, [3])], [inner_w])
    cond = numpy_helper.from_array(np.array(True), "cond")
    nodes = [helper.make_node("If", ["cond"], ["z"], name="if", then_branch=branch, else_branch=branch), helper.make_node("Add", ["x", "w"], ["y"])]
    with pytest.raises(UnsafeFileError, match="in node 'if'") as caught:
        check_onnx_file(save(add_model(nodes=nodes, extra=[cond]), tmp_path / "sub" / "model.onnx"))
    assert caught.value.reason == "absolute-path"

    values = make_external(numpy_helper.from_array(np.ones(2, np.float32), "s"), "../../s.bin", 0, 8)
    sparse = helper.make_sparse_tensor(values, numpy_helper.from_array(np.array([0, 4], np.int64), "s_idx"), [2, 3])
    model = add_model()
    model.graph.sparse_initializer.append(sparse)
    with pytest.raises(UnsafeFileError, match="sparse initializer 's'") as caught:
        check_onnx_file(save(model, tmp_path / "sparse" / "model.onnx"))
    assert caught.value.reason == "path-escape"


# ---- declared sizes -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["external, length declared", "dims only, no data"])
def test_ten_gb_declared_initializer_is_refused_fast_without_allocating(tmp_path: Path, kind: str) -> None:
    if kind.startswith("external"):
        model = huge_weight("w.bin")
        (tmp_path / "w.bin").write_bytes(bytes(24))
    else:
        model = add_model()
        w = model.graph.initializer[0]
        w.ClearField("raw_data")
        del w.dims[:]
        w.dims.extend([50_000, 50_000])
    path = save(model, tmp_path / "model.onnx")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    with pytest.raises(UnsafeFileError) as caught:
        load_onnx(path)
    assert time.perf_counter() - start < 10  # refused from the protobuf alone; allocating 10 GB would take far longer or fail
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100 * 1024  # under 100 MiB more, at peak
    err = caught.value
    assert (err.reason, err.size, err.limit) == ("too-large", TEN_GB, 8 * 1024**3)
    assert "9.3 GiB" in str(err) and "ZOO_MAX_ONNX_BYTES" in str(err) and "'w'" in str(err)


def test_limit_from_zoo_max_onnx_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(add_model(np.zeros((20, 20), np.float32)), tmp_path / "big.onnx")  # 1,600 bytes inline
    check_onnx_file(path)
    monkeypatch.setenv("ZOO_MAX_ONNX_BYTES", "1000")
    with pytest.raises(UnsafeFileError) as caught:
        check_onnx_file(path)
    assert (caught.value.reason, caught.value.limit) == ("too-large", 1000)
    # Each tensor under the limit, together over it.
    two = add_model(np.zeros((2, 3), np.float32), extra=[numpy_helper.from_array(np.zeros(150, np.float32), f"p{i}") for i in range(2)])
    onnx.save(two, str(tmp_path / "two.onnx"), save_as_external_data=True, location="two.data", size_threshold=0)  # a small .onnx
    with pytest.raises(UnsafeFileError, match="bringing the model's tensors to") as caught:
        check_onnx_file(tmp_path / "two.onnx")
    assert caught.value.size == 24 + 600 + 600
    monkeypatch.setenv("ZOO_MAX_ONNX_BYTES", "lots")
    with pytest.raises(InvalidOptionError, match="ZOO_MAX_ONNX_BYTES"):
        check_onnx_file(path)


def test_file_over_the_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\xff" * 2000)  # not even a model: the size alone decides
    with pytest.raises(UnsafeFileError) as caught:
        check_onnx_file(path, max_bytes=1000)
    assert (caught.value.reason, caught.value.size, caught.value.limit) == ("too-large", 2000, 1000)


# ---- graph and bytes ------------------------------------------------------------------


def test_cycle_is_refused_naming_the_nodes(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Add", ["x", "t2"], ["t1"], name="first"),
        helper.make_node("Relu", ["t1"], ["t2"], name="second"),
        helper.make_node("Add", ["t1", "w"], ["y"], name="out"),
    ]
    path = save(add_model(nodes=nodes), tmp_path / "model.onnx")
    with pytest.raises(OnnxFormatError) as caught:
        check_onnx_file(path)
    assert caught.value.reason == "cycle" and caught.value.path == str(path)
    assert "'first' (Add) -> 'second' (Relu) -> 'first' (Add)" in str(caught.value)


def test_undefined_input_is_refused(tmp_path: Path) -> None:
    path = save(add_model(nodes=[helper.make_node("Add", ["x", "ghost"], ["y"], name="add")]), tmp_path / "model.onnx")
    with pytest.raises(OnnxFormatError) as caught:
        check_onnx_file(path)
    assert caught.value.reason == "undefined input"
    assert "node 'add' (Add) reads 'ghost'" in str(caught.value)


def test_nodes_out_of_order_but_acyclic_pass(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["t", "w"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["t"], name="early")]
    check_onnx_file(save(add_model(nodes=nodes), tmp_path / "model.onnx"))


@pytest.mark.parametrize("data", [b"this is not an onnx model\n" * 10, bytes(range(256)) * 4, b""], ids=["text", "binary", "empty"])
def test_garbage_bytes_are_not_a_model(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    with pytest.raises(OnnxFormatError) as caught:
        check_onnx_file(path)
    assert caught.value.reason == "not an ONNX model" and str(path) in str(caught.value)
    with pytest.raises(OnnxFormatError):
        read_onnx(path)  # what read_metadata and 'zoo info FILE.onnx' use


def test_a_file_changed_after_it_passed_is_checked_again(tmp_path: Path) -> None:
    path = save(add_model(), tmp_path / "model.onnx")
    check_onnx_file(path)
    check_onnx_file(path)  # remembered
    save(huge_weight("/etc/passwd"), path)
    with pytest.raises(UnsafeFileError):
        check_onnx_file(path)


# ---- the good case --------------------------------------------------------------------


def test_valid_model_with_external_data_is_accepted_and_runs(tmp_path: Path) -> None:
    import onnxruntime as ort

    w = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    path = tmp_path / "model.onnx"
    onnx.save(add_model(w), str(path), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    assert onnx.load(str(path), load_external_data=False).graph.initializer[0].data_location == TensorProto.EXTERNAL
    check_onnx_file(path)
    x = np.ones((2, 3), np.float32)
    loaded = load_onnx(path)
    out = ort.InferenceSession(loaded.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(out, x + w)
    by_path = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(by_path, x + w)


# ---- end to end: a registry entry whose ONNX file is hostile ----------------------------


def _onnx_entry(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "task": "image-classification",
        "modality": "vision",
        "architecture": "test onnx",
        "paper": {"title": "Test model", "url": "https://example.org/paper"},
        "default": "v1",
        "versions": {
            "v1": {
                "adapter": "onnx",
                "arch": "hostile",
                "license": "apache-2.0",
                "input": {"shape": [3, 4, 4], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear", "crop_pct": 0.875},
                "stages": [],
                "files": files,
            }
        },
    }


def _image_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((1, 3, 4, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["image", "w"], ["feat"], name="add"), helper.make_node("Relu", ["feat"], ["out"], name="relu")],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 3, 4, 4])],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def _adopt(tmp_path: Path, models: dict[str, dict[str, bytes]]) -> Path:
    """Writes a registry for ``{name: {file: bytes}}`` and adopts the files as 'zoo cache import' does (no server)."""
    entries, folder = {}, tmp_path / "files"
    for name, files in models.items():
        for rel, data in files.items():
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / rel).write_bytes(data)
        entries[name] = _onnx_entry([file_entry(rel, data, {"url": f"https://example.invalid/{name}/{rel}"}) for rel, data in files.items()])
    reg = write_registry(tmp_path / "hostile.yaml", entries)
    report = import_folder(folder, registries=[reg])  # what 'zoo cache import' runs, in process (a second faster)
    assert sorted(report["complete"]) == sorted(f"{name}@v1" for name in models), report
    return reg


def test_cli_refuses_a_registry_onnx_file_that_escapes_or_loops(tmp_path: Path, zoo_env: Path, request: pytest.FixtureRequest) -> None:
    from hardening import audit

    escaping = huge_weight("../../../../blobs/sha256/x")
    loop = _image_model()
    loop.graph.node[0].input[1] = "out"  # add reads relu's output, relu reads add's
    reg = _adopt(tmp_path, {"escape-onnx": {"model.onnx": escaping.SerializeToString()},
                            "loop-onnx": {"model.onnx": loop.SerializeToString()}})
    env = {"ZOO_REGISTRY": str(reg), "ZOO_OFFLINE": "1"}

    r = run_zoo("stages", "escape-onnx", env=env)
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "climbs out of the model's folder" in lines[0] and "'w'" in lines[0], r.stderr
    r = run_zoo("export", "escape-onnx", "-o", str(tmp_path / "x.onnx"), env=env)
    assert r.returncode == 4 and "climbs out" in r.stderr, r.stderr
    assert not (tmp_path / "x.onnx").exists()

    r = run_zoo("stages", "loop-onnx", "--json", env=env)
    assert r.returncode == 1, r.stderr  # OnnxFormatError is a plain ZooError to the CLI
    assert "cycle" in r.stderr and "'add' (Add)" in r.stderr and "internal error" not in r.stderr, r.stderr
    assert audit(zoo_env, request=request) == []


def test_api_loads_a_registry_onnx_model_whose_external_data_is_a_cached_link(
    tmp_path: Path, zoo_env: Path, request: pytest.FixtureRequest
) -> None:
    """The good case through the cache: model.onnx.data is a link into blobs/, trusted, and the model runs."""
    from hardening import audit

    import zoo

    model = _image_model()
    w = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "w"))
    src = tmp_path / "src" / "model.onnx"
    src.parent.mkdir()
    onnx.save(model, str(src), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    reg = _adopt(tmp_path, {"linked-onnx": {"model.onnx": src.read_bytes(), "model.onnx.data": (src.parent / "model.onnx.data").read_bytes()}})
    folder = zoo.pull("linked-onnx", registries=[reg], offline=True)
    assert (folder / "model.onnx.data").is_symlink()  # what onnx.load and ONNX Runtime refuse by path
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
    net = zoo.load("linked-onnx", until="feat", registries=[reg], offline=True)
    np.testing.assert_allclose(net(x), x + w, rtol=1e-6)
    assert [s.name for s in zoo.stages("linked-onnx", all=True, registries=[reg])][-1] == "out"
    assert audit(zoo_env, request=request) == []


def test_stages_on_a_fresh_cache_fetch_the_external_data_too(https_server, tmp_path: Path, zoo_env: Path) -> None:  # noqa: ANN001
    """Before: ``zoo stages`` fetched only model.onnx and then failed on its missing model.onnx.data."""
    model = _image_model()
    src = tmp_path / "src" / "model.onnx"
    src.parent.mkdir()
    onnx.save(model, str(src), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    files = []
    for rel in ("model.onnx", "model.onnx.data"):
        data = (src.parent / rel).read_bytes()
        https_server.add(f"/ext/{rel}", data)
        files.append(file_entry(rel, data, {"url": https_server.url(f"/ext/{rel}")}))
    reg = write_registry(tmp_path / "ext.yaml", {"ext-onnx": _onnx_entry(files)})
    r = run_zoo("--registry", str(reg), "stages", "ext-onnx", "--all", "--json")
    assert r.returncode == 0, r.stderr
    assert "out" in r.stdout and len(https_server.requests_for("/ext/model.onnx.data", "GET")) == 1
