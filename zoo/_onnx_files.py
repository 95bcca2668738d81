"""Checks an ONNX file zoo did not write before anything loads it: where its external data lives, how big it says it is, whether its graph is a graph.

A registry's ``.onnx`` file is code and data from someone else. Loading one
with ``onnx.load`` or ONNX Runtime opens every file its tensors name in
``external_data`` (``../../etc/shadow``, ``/dev/zero``...) and allocates every
tensor it declares, so all of that is decided here from the protobuf alone
(parsed with ``load_external_data=False``), before a byte of weights is read:

- the file itself must be under protobuf's 2 GiB limit and parse as a model;
- every tensor with external data (initializers, sparse initializers,
  node attributes, subgraphs, functions, training graphs) names a relative
  ``location`` with no ``..``, which resolves (symlinks followed) inside the
  model's folder, or into a folder the caller trusts (zoo's blob store, whose
  files were checked by sha256), exists, and holds ``offset + length`` bytes;
- the tensors' declared sizes (dims x element size, or the external length,
  whichever is larger; sparse ones counted dense, as ONNX Runtime densifies
  them) stay under ``ZOO_MAX_ONNX_BYTES`` (default 8 GiB), each and together;
- the main graph is acyclic and every node input is produced by a node, an
  initializer or a graph input (subgraphs may use outer names, so only their
  tensors are checked).

:func:`check_onnx_file` raises :class:`~zoo.errors.UnsafeFileError` (exit 4)
or :class:`~zoo.errors.OnnxFormatError` and remembers, per process, the files
that passed (by real path, mtime, size and limit). :func:`load_onnx` checks and
then reads the external data itself from the resolved files (``onnx.load``
refuses a data file that is a symlink, which every file of zoo's cache is).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import PureWindowsPath
from typing import Any

from zoo import _settings
from zoo.errors import OnnxFormatError, UnsafeFileError

__all__ = ["check_onnx_file", "load_onnx", "read_onnx", "PROTOBUF_LIMIT"]

PROTOBUF_LIMIT = 2**31 - 1  # protobuf refuses a message of 2 GiB or more
_ADVICE = "Do not use this file: get it again from its source, or report it to whoever published it."

# Bits per element, by TensorProto.DataType name (names, so an older onnx without a type still imports this).
_BITS = {
    "BOOL": 8, "INT8": 8, "UINT8": 8, "INT16": 16, "UINT16": 16, "INT32": 32, "UINT32": 32, "INT64": 64, "UINT64": 64,
    "FLOAT16": 16, "BFLOAT16": 16, "FLOAT": 32, "DOUBLE": 64, "COMPLEX64": 64, "COMPLEX128": 128,
    "FLOAT8E4M3FN": 8, "FLOAT8E4M3FNUZ": 8, "FLOAT8E5M2": 8, "FLOAT8E5M2FNUZ": 8, "FLOAT8E8M0": 8,
    "FLOAT6E2M3": 6, "FLOAT6E3M2": 6, "INT4": 4, "UINT4": 4, "FLOAT4E2M1": 4, "INT2": 2, "UINT2": 2,
}

_PASSED: set[tuple[Any, ...]] = set()


def _size_text(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def read_onnx(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Any:
    """Parses an ONNX file's protobuf without its external data, refusing one too big to parse safely.

    Args:
        path: The ``.onnx`` file.
        max_bytes: Refuse a file larger than this too (None: only protobuf's 2 GiB limit).

    Returns:
        The ``onnx.ModelProto`` (external tensors still point at their files).

    Raises:
        UnsafeFileError: The file is over 2 GiB or ``max_bytes`` (``too-large``).
        OnnxFormatError: The bytes are not an ONNX model.
    """
    import onnx

    where = str(path)
    size = os.stat(path).st_size
    limit = PROTOBUF_LIMIT if max_bytes is None else min(max_bytes, PROTOBUF_LIMIT)
    if size > limit:
        why = "protobuf's 2 GiB limit" if limit == PROTOBUF_LIMIT else f"ZOO_MAX_ONNX_BYTES ({_size_text(limit)})"
        raise UnsafeFileError(
            f"{where}: the ONNX file is {_size_text(size)}, over {why}; it was not read. {_ADVICE} "
            "Raise ZOO_MAX_ONNX_BYTES if you trust it and it is under 2 GiB.",
            path=where, reason="too-large", size=size, limit=limit,
        )
    try:
        model = onnx.load(where, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError, onnx's own errors: all mean "not a model"
        raise OnnxFormatError(
            f"{where}: not an ONNX model (the protobuf does not parse: {type(exc).__name__}). {_ADVICE}",
            path=where, reason="not an ONNX model",
        ) from exc
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise OnnxFormatError(
            f"{where}: not an ONNX model (the bytes parse, but hold no IR version or no graph). {_ADVICE}",
            path=where, reason="not an ONNX model",
        )
    return model


def check_onnx_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    trusted_roots: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Refuses an ONNX file whose external data reaches outside its folder, that declares too much, or whose graph is not one.

    Nothing but the ``.onnx`` file's protobuf is read (and the data files'
    sizes); a file that passed is not checked again in this process while its
    mtime and size stay the same.

    Args:
        path: The ``.onnx`` file.
        max_bytes: The most tensor bytes it may declare (None: ``ZOO_MAX_ONNX_BYTES``, default 8 GiB).
        trusted_roots: Folders outside the model's folder that a symlinked data
            file may resolve into (zoo's blob store).

    Raises:
        UnsafeFileError: An external ``location`` is absolute (``absolute-path``),
            has ``..`` (``path-escape``), leads out through a symlink
            (``symlink``); a tensor, the total, a declared data range or the file
            is too big (``too-large``).
        OnnxFormatError: Not an ONNX model, missing external data, a cycle, an undefined input.

    Example:
        >>> import onnx, onnx.helper as h, pathlib, tempfile
        >>> g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
        ...     [h.make_tensor_value_info("x", 1, [2])], [h.make_tensor_value_info("y", 1, [2])])
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.onnx"
        >>> onnx.save(h.make_model(g), str(p))
        >>> check_onnx_file(p)
    """
    limit = _settings.max_onnx_bytes() if max_bytes is None else max_bytes
    st = os.stat(path)
    roots = tuple(os.path.realpath(r) for r in trusted_roots)
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size, limit, roots)
    if key in _PASSED:
        return
    _checked(path, limit, roots)
    _PASSED.add(key)


def load_onnx(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    trusted_roots: Sequence[str | os.PathLike[str]] = (),
) -> Any:
    """Checks an ONNX file as :func:`check_onnx_file` does, then returns it with its external data read in.

    The data is read from the files the check resolved (so a data file that is
    a link into ``trusted_roots`` loads, which ``onnx.load`` refuses).

    Returns:
        The ``onnx.ModelProto``, every tensor inline.

    Raises:
        UnsafeFileError, OnnxFormatError: As for :func:`check_onnx_file`.
    """
    import onnx

    limit = _settings.max_onnx_bytes() if max_bytes is None else max_bytes
    model, external = _checked(path, limit, tuple(os.path.realpath(r) for r in trusted_roots))
    for tensor, real, offset, length in external:
        with open(real, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        if len(data) != length:  # the file shrank since it was checked
            raise OnnxFormatError(f"{path}: external data of tensor {tensor.name!r} in {real} is shorter than declared. {_ADVICE}",
                                  path=str(path), reason="missing external data")
        tensor.raw_data = data
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]
    return model


# ---- the checks -------------------------------------------------------------------


def _checked(path: str | os.PathLike[str], limit: int, roots: tuple[str, ...]) -> tuple[Any, list[tuple[Any, str, int, int]]]:
    """Parses and checks the file; returns the model and, per external tensor, (tensor, real data path, offset, length)."""
    where = str(path)
    model = read_onnx(path, max_bytes=limit)
    base = os.path.dirname(os.path.abspath(path))  # where onnx and ONNX Runtime resolve locations from
    total = 0
    external = []
    for what, tensor, dense in _tensors(model):
        size = _declared_bytes(where, what, tensor, dense)
        if _is_external(tensor):
            real, offset, length = _external(where, what, tensor, base, roots, limit, size)
            size = max(size, length)
            external.append((tensor, real, offset, length))
        total += size
        if size > limit or total > limit:
            alone = size > limit
            raise UnsafeFileError(
                f"{where}: {what} declares {_size_text(size)}"
                + ("" if alone else f", bringing the model's tensors to {_size_text(total)}")
                + f", over the limit of {_size_text(limit)} (ZOO_MAX_ONNX_BYTES); nothing was loaded. {_ADVICE} "
                "Raise ZOO_MAX_ONNX_BYTES if you trust it and have the memory.",
                path=where, reason="too-large", target=tensor.name or None, size=size if alone else total, limit=limit,
            )
    _check_graph(where, model.graph)
    return model, external


def _tensors(model: Any) -> Iterator[tuple[str, Any, list[int] | None]]:
    """Every TensorProto the model holds, as (description, tensor, dense dims for a sparse tensor's values or None)."""
    yield from _graph_tensors(model.graph, "")
    for function in model.functions:
        yield from _node_tensors(function.node, f" in function {function.name!r}")
    for i, training in enumerate(model.training_info):
        for name in ("initialization", "algorithm"):
            if training.HasField(name):
                yield from _graph_tensors(getattr(training, name), f" in training_info[{i}].{name}")


def _graph_tensors(graph: Any, scope: str) -> Iterator[tuple[str, Any, list[int] | None]]:
    for tensor in graph.initializer:
        yield f"initializer {tensor.name!r}{scope}", tensor, None
    for sparse in graph.sparse_initializer:
        yield from _sparse(sparse, f"sparse initializer {sparse.values.name!r}{scope}")
    yield from _node_tensors(graph.node, scope)


def _sparse(sparse: Any, what: str) -> Iterator[tuple[str, Any, list[int] | None]]:
    yield what, sparse.values, list(sparse.dims)
    yield f"{what} (indices)", sparse.indices, None


def _node_tensors(nodes: Any, scope: str) -> Iterator[tuple[str, Any, list[int] | None]]:
    for node in nodes:
        inner = f" in node {node.name or node.op_type!r}{scope}"
        for attr in node.attribute:
            what = f"attribute {attr.name!r} of node {node.name or node.op_type!r}{scope}"
            if attr.HasField("t"):
                yield what, attr.t, None
            for tensor in attr.tensors:
                yield what, tensor, None
            if attr.HasField("sparse_tensor"):
                yield from _sparse(attr.sparse_tensor, what)
            for sparse in attr.sparse_tensors:
                yield from _sparse(sparse, what)
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g, inner)
            for graph in attr.graphs:
                yield from _graph_tensors(graph, inner)


def _is_external(tensor: Any) -> bool:
    return tensor.data_location == 1 or len(tensor.external_data) > 0  # 1 = TensorProto.EXTERNAL


def _declared_bytes(where: str, what: str, tensor: Any, dense: list[int] | None) -> int:
    """The bytes the tensor's dims (or a sparse tensor's dense dims) and type declare, in exact integers."""
    import onnx

    dims = list(tensor.dims) if dense is None else dense
    count = 1
    for d in dims:
        if d < 0:
            raise OnnxFormatError(f"{where}: {what} has a negative dimension ({list(dims)}). {_ADVICE}", path=where, reason="negative dimension")
        count *= d
    try:
        type_name = onnx.TensorProto.DataType.Name(tensor.data_type)
    except ValueError:
        type_name = "UNDEFINED"
    if type_name == "STRING":
        return sum(len(s) for s in tensor.string_data)
    return (count * _BITS.get(type_name, 8) + 7) // 8


def _external(
    where: str, what: str, tensor: Any, base: str, roots: tuple[str, ...], limit: int, declared: int
) -> tuple[str, int, int]:
    """Resolves and checks one tensor's external data (``declared``: what its dims say); returns (real path, offset, length)."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    bad = f"{where}: {what} has external data at {location!r}"
    if not location or "\x00" in location:
        raise OnnxFormatError(f"{where}: {what} is marked as external data but names no usable location. {_ADVICE}",
                              path=where, reason="missing external data")
    win = PureWindowsPath(location)
    if os.path.isabs(location) or location.startswith(("/", "\\")) or win.drive or win.root:
        raise UnsafeFileError(
            f"{bad}, an absolute path: external data must sit next to the model; it was not opened. {_ADVICE}",
            path=where, reason="absolute-path", target=location,
        )
    if ".." in location.replace("\\", "/").split("/"):
        raise UnsafeFileError(
            f"{bad}, which climbs out of the model's folder ('..'); it was not opened. {_ADVICE}",
            path=where, reason="path-escape", target=location,
        )
    folder = os.path.realpath(base)
    real = os.path.realpath(os.path.join(base, location))
    if not any(_inside(real, root) for root in (folder, *roots)):
        raise UnsafeFileError(
            f"{bad}, a symlink leading out of the model's folder (to {real}); it was not opened. {_ADVICE}",
            path=where, reason="symlink", target=location,
        )
    try:
        offset = int(info.get("offset") or 0)
        length = int(info["length"]) if info.get("length") else None
    except ValueError:
        offset = length = -1
    if offset < 0 or (length is not None and length < 0):
        raise OnnxFormatError(f"{bad} with a bad offset or length ({info.get('offset')!r}, {info.get('length')!r}). {_ADVICE}",
                              path=where, reason="bad external data")
    claimed = max(declared, length or 0)
    if claimed > limit:  # before the data file is looked at: a declared size is refused on its own
        raise UnsafeFileError(
            f"{bad} declaring {_size_text(claimed)}, over the limit of {_size_text(limit)} (ZOO_MAX_ONNX_BYTES); nothing was loaded. "
            f"{_ADVICE} Raise ZOO_MAX_ONNX_BYTES if you trust it and have the memory.",
            path=where, reason="too-large", target=location, size=claimed, limit=limit,
        )
    if not os.path.isfile(real):
        raise OnnxFormatError(
            f"{bad}, which does not exist (looked for {os.path.join(base, location)}). Put the data file next to the model, "
            "or, for a registry model, list it among the version's files.",
            path=where, reason="missing external data",
        )
    available = os.path.getsize(real)
    end = offset + (length if length is not None else max(available - offset, 0))
    if end > available:
        raise UnsafeFileError(
            f"{bad} declaring bytes {offset}..{end}, past the end of that file ({available} bytes); it was not loaded. {_ADVICE}",
            path=where, reason="too-large", target=location, size=end, limit=available,
        )
    return real, offset, end - offset


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _check_graph(where: str, graph: Any) -> None:
    """Refuses a main graph with an input nothing produces or a cycle (Kahn's algorithm over the nodes)."""
    nodes = list(graph.node)
    given = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    given |= {s.values.name for s in graph.sparse_initializer} | {""}  # "" is an omitted optional input
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if out:
                producer.setdefault(out, i)

    def label(i: int) -> str:
        node = nodes[i]
        return f"{node.name!r} ({node.op_type})" if node.name else f"#{i} ({node.op_type})"

    deps: list[set[int]] = [set() for _ in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        for name in node.input:
            if name in producer:
                j = producer[name]
                if j not in deps[i]:
                    deps[i].add(j)
                    users[j].append(i)
            elif name not in given:
                raise OnnxFormatError(
                    f"{where}: node {label(i)} reads {name!r}, which no node, initializer or graph input produces "
                    f"(undefined input). {_ADVICE}",
                    path=where, reason="undefined input",
                )
    waiting = [len(d) for d in deps]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    done = 0
    while ready:
        j = ready.pop()
        done += 1
        for i in users[j]:
            waiting[i] -= 1
            if waiting[i] == 0:
                ready.append(i)
    if done == len(nodes):
        return
    # Walk back along unresolved dependencies from a stuck node until a node repeats: that loop is a cycle.
    stuck = {i for i, n in enumerate(waiting) if n > 0}
    path, seen = [], {}
    i = min(stuck)
    while i not in seen:
        seen[i] = len(path)
        path.append(i)
        i = min(j for j in deps[i] if j in stuck)
    loop = [i, *path[seen[i]:][::-1]]  # i feeds the last node walked, ..., the first feeds i
    raise OnnxFormatError(
        f"{where}: node {label(i)} depends on its own output through a cycle "
        f"({' -> '.join(label(k) for k in loop)}); an ONNX graph must be acyclic. {_ADVICE}",
        path=where, reason="cycle",
    )
