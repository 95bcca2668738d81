"""The catalogue site (zoo/site/, ``zoo catalog``; issue 14), built from the real registry and read in a real browser.

Headless Chromium from Debian (``/usr/bin/chromium``), driven by Playwright, loads the site from a
loopback HTTP server (and from disk). What the page shows is checked against zoo's own API on the
same registry: the search ranks as ``zoo.search``, facet counts as ``zoo.list_models`` filters, the
top-1 sort as ``zoo list --sort -top1``. Screenshots go to ``build/screenshots/`` (CI keeps them).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import run_zoo, write_registry

import zoo
from zoo.errors import InvalidOptionError
from zoo.site import MARKER

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"

needs_browser = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium; make test installs it)"
)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The full registry's site, built once, served from 127.0.0.1."""
    folder = tmp_path_factory.mktemp("site") / "site"
    result = zoo.build_site(folder)
    assert result.models > 1000
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, site: tuple[Path, str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=site[1])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site[1])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors  # no script error on any page a test opened


def _open(page: Any, path: str = "/index.html") -> None:
    page.goto(path)
    page.wait_for_selector("body[data-ready='1']")


def _rows(page: Any, n: int = 3) -> list[str]:
    return page.eval_on_selector_all("#models tbody tr", f"rows => rows.slice(0, {n}).map(r => r.dataset.id)")


def _count(page: Any) -> int:
    return int(re.match(r"(\d+)", page.text_content("#count")).group(1))


def _type(page: Any, text: str) -> None:
    page.fill("#q", text)
    page.wait_for_function(f"() => new URLSearchParams(location.hash.slice(1)).get('q') === {json.dumps(text)}")


def _ids(summaries: Any) -> list[str]:
    return [f"{s.name}@{s.version}" for s in summaries]


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


def test_the_full_site_has_an_index_a_card_per_model_and_its_assets(site: tuple[Path, str]) -> None:
    folder, _ = site
    everything = zoo.list_models()
    cards = sorted(p.name for p in (folder / "models").glob("*.html"))
    assert len(cards) == everything.total and (folder / "index.html").is_file() and (folder / MARKER).is_file()
    assert {p.name for p in (folder / "assets").iterdir()} == {"catalog.js", "catalog.css"}
    html = (folder / "index.html").read_text()
    data = json.loads(re.search(r'<script id="zoo-data" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert [m["name"] for m in data["models"]] == [m.name for m in everything]  # zoo list's order
    assert sum(len(m["versions"]) for m in data["models"]) == sum(len(m.versions) for m in everything)
    # Named fields, from the registry's typed rows (zoo.registry.ModelRow / VersionRow).
    resnet = next(m for m in data["models"] if m["name"] == "resnet50")
    assert resnet["page"] == "models/resnet50.html" and set(resnet["search"]) == {"names", "words", "architecture", "haystack"}
    default = next(v for v in resnet["versions"] if v["name"] == resnet["default"])
    summary = next(m for m in everything if m.name == "resnet50")
    assert default["metrics"]["top1"] == summary.top1 and default["verification"] == summary.verification
    # Nothing is loaded from elsewhere (no CDN, no fonts): every script and stylesheet is a file of the site.
    pages = [html, (folder / "models" / "resnet50.html").read_text()]
    loaded = [u for page in pages for u in re.findall(r'<(?:script|img|iframe)[^>]* src="([^"]*)"|<link[^>]* href="([^"]*)"', page) for u in u if u]
    assert sorted(set(loaded)) == ["../assets/catalog.css", "../assets/catalog.js", "assets/catalog.css", "assets/catalog.js"]
    assert "url(" not in (folder / "assets" / "catalog.css").read_text() and "@import" not in (folder / "assets" / "catalog.css").read_text()
    assert not re.search(r"fetch\(|XMLHttpRequest|import\(", (folder / "assets" / "catalog.js").read_text())
    # The plain table (for readers without JavaScript) links every model's card.
    assert html.count('<td><a href="models/') == everything.total and "<noscript>" in html

    card = (folder / "models" / "resnet50.html").read_text()
    info = zoo.info("resnet50")
    assert f'id="v-{info.version}"' in card and "default</span>" in card
    for stage, out in (("layer3", "1024 x 14 x 14"), ("layer4", "2048 x 7 x 7")):
        assert re.search(rf"<code>{stage}</code></td><td class=num>\d+</td><td class=num>\d+</td><td>{out}</td>", card)
    assert f"sha256:{info.files[0].sha256}" in card and info.metrics[0].source in card
    assert f'data-copy="zoo pull {info.id}"' in card and f"zoo export {info.id} --until" in card
    assert f"import zoo\nmodel = zoo.load(&quot;{info.id}&quot;, until=&quot;" in card
    for v in info.versions:
        assert f'id="v-{v}"' in card
    # A generated timm model declares no stages: its card shows the shipped stage table's, derived with timm.
    tiny = zoo.info("convnext_small")
    assert not tiny.stages
    card = (folder / "models" / "convnext_small.html").read_text()
    assert "(zoo's stage table)" in card and "timm 1." in card
    size = tiny.input.shape[-1]
    assert re.search(rf"<code>stages.2</code></td><td class=num>384</td><td class=num>16</td><td>384 x {size // 16} x {size // 16}</td>", card)


def test_cli_writes_the_site_replaces_its_own_and_refuses_other_folders(tmp_path: Path) -> None:
    out = tmp_path / "site"
    r = run_zoo("catalog", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["models"] == zoo.list_models().total and Path(result["index"]).is_file()
    print(f"zoo catalog: full registry ({result['models']} models, {result['versions']} versions) in {result['seconds']:.2f} s")
    (out / "models" / "stale.html").write_text("old")
    r = run_zoo("catalog", "-o", str(out), "--title", "Again")
    assert r.returncode == 0 and "wrote" in r.stdout and not (out / "models" / "stale.html").exists()
    assert "<title>Again</title>" in (out / "index.html").read_text()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    r = run_zoo("catalog", "-o", str(other))
    assert r.returncode == 2 and MARKER in r.stderr and (other / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def _team_entry() -> dict[str, Any]:
    return {
        "task": "image-classification", "modality": "vision", "architecture": "Team-Net",
        "paper": {"title": "Our net", "url": "https://example.org/paper", "year": 2026}, "default": "v1", "tags": ["team"],
        "versions": {"v1": {
            "adapter": "timm", "arch": "resnet18", "license": "mit",
            "input": {"shape": [3, 160, 160], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
            "stages": [{"name": "layer3", "channels": 256, "stride": 16}],
            "metrics": [{"name": "top1", "value": 71.5, "source": "https://example.org/results"},
                        {"name": "gmacs", "value": 1.2, "source": "https://example.org/results"}],
            "files": [{"path": "model.safetensors", "size": 1234, "sha256": "ab" * 32,
                       "source": {"url": "https://example.org/model.safetensors"}}],
        }},
    }


def test_a_single_model_registry_builds_a_site_of_one(tmp_path: Path, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.site import _stage_table

    monkeypatch.setattr(_stage_table, "table_path", lambda: tmp_path / "no-table.json")  # the declared list, then derived
    reg = write_registry(tmp_path / "team.yaml", {"team-net": _team_entry()})
    with pytest.raises(InvalidOptionError, match="--registry"):
        zoo.build_site(tmp_path / "none", only=True)
    result = zoo.build_site(tmp_path / "site", registries=[reg], only=True, title="Our models")
    assert (result.models, result.versions, result.pages) == (1, 1, 4)
    card = (tmp_path / "site" / "models" / "team-net.html").read_text()
    assert "<code>layer3</code></td><td class=num>256</td><td class=num>16</td><td>256 x 10 x 10</td>" in card
    assert "as the registry declares them" in card and result.stages == 0
    # --derive-stages: the architecture's own stages (timm resnet18 at 160 px), cached, then shown.
    r = run_zoo("catalog", "-o", str(tmp_path / "site"), "--registry", str(reg), "--only", "--derive-stages", "--title", "Our models", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stages"] == 1 and json.loads(r.stdout)["stages_failed"] == []
    assert '"done": 1, "total": 1' in r.stderr  # the progress lines
    card = (tmp_path / "site" / "models" / "team-net.html").read_text()
    assert "derived from the architecture" in card
    for stage, out in (("layer1", "64 x 40 x 40"), ("layer3", "256 x 10 x 10"), ("layer4", "512 x 5 x 5")):
        assert re.search(rf"<code>{stage}</code></td><td class=num>\d+</td><td class=num>\d+</td><td>{out}</td>", card), stage
    assert "zoo export team-net@v1 --until layer3" in card
    # Opened from disk (file://), no server: the data is inside the page.
    context = browser.new_context()
    page = context.new_page()
    page.goto((tmp_path / "site" / "index.html").as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("h1") == "Our models" and _rows(page, 5) == ["team-net@v1"]
    assert page.eval_on_selector_all("#chart circle", "c => c.map(x => x.dataset.id)") == ["team-net@v1"]
    context.close()


def test_the_stage_table_is_derived_from_the_architecture_and_feeds_the_cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zoo_env: Path) -> None:
    from zoo.registry import load_catalog
    from zoo.site import _only, _stage_table

    reg = write_registry(tmp_path / "team.yaml", {"team-net": _team_entry()})
    table = tmp_path / "stages.json"
    report = _stage_table.write_table(table, _only(load_catalog([reg]), [reg]))
    assert (report["derived"], report["failed"], report["skipped"]) == (1, {}, 0)
    data = json.loads(table.read_text())
    assert data["format"] == 1 and {"timm", "torch"} <= set(data["frameworks"])
    rows = data["stages"]["timm|resnet18|{}|3x160x160"]
    assert [r[0] for r in rows] == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert rows[3] == ["layer3", 256, 16, [256, 10, 10]]
    # The site reads it where this machine's stage cache has nothing (deriving filled it: emptied again).
    shutil.rmtree(zoo_env / "stages")
    monkeypatch.setattr(_stage_table, "table_path", lambda: table)
    result = zoo.build_site(tmp_path / "site", registries=[reg], only=True)
    card = (tmp_path / "site" / "models" / "team-net.html").read_text()
    assert result.stages == 1 and "(zoo's stage table)" in card and f"timm {data['frameworks']['timm']}" in card
    assert "<code>layer4</code></td><td class=num>512</td><td class=num>32</td><td>512 x 5 x 5</td>" in card


# --------------------------------------------------------------------------
# In the browser
# --------------------------------------------------------------------------


@needs_browser
def test_search_ranks_as_zoo_search(page: Any) -> None:
    _open(page)
    for query in ("resnet50", "efficientnet b3", "vit imagenet", "glove", "resnet50.a1_in1k", "resnet50@tv_in1k",
                  "caffe", "bert", "mobilenet", "convnext tiny", "word2vec"):
        expected = _ids(zoo.search(query, limit=10))
        assert page.evaluate("q => window.zooCatalog.search(q).slice(0, 10)", query) == expected, query
    _type(page, "resnet50")
    assert _rows(page, 1) == _ids(zoo.search("resnet50", limit=1)) and _rows(page, 1)[0].startswith("resnet50@")
    assert _count(page) == zoo.search("resnet50").total
    _type(page, "zzzz-no-such-model")
    assert _count(page) == 0 and _rows(page) == []


@needs_browser
def test_a_license_facet_changes_the_count_as_list_models_filters(page: Any) -> None:
    _open(page)
    everything = _count(page)
    assert everything == zoo.list_models().total
    page.check(".facet[data-facet='license'] input[value='mit']")
    page.wait_for_function("() => location.hash.includes('license=mit')")
    assert _count(page) == zoo.list_models(license="mit").total < everything
    label = page.text_content(".facet[data-facet='license'] label.value:has(input[value='mit']) .n")
    assert label == f"({zoo.list_models(license='mit').total})"
    page.check(".facet[data-facet='modality'] input[value='text']")
    page.wait_for_function("() => location.hash.includes('modality=text')")
    assert _count(page) == zoo.list_models(license="mit", modality="text").total
    page.click("#clear")
    page.wait_for_function(f"() => document.querySelector('#count').textContent.startsWith('{everything} ')")


@needs_browser
def test_sort_by_top1_descending_and_the_first_three(page: Any) -> None:
    _open(page)
    page.click("button.sort[data-sort='top1']")
    page.wait_for_function("() => location.hash.includes('sort=-top1')")
    assert page.get_attribute("th[data-key='top1']", "aria-sort") == "descending"
    expected = _ids(zoo.list_models(sort="-top1", limit=3))
    assert _rows(page) == expected
    cells = page.eval_on_selector_all("#models tbody tr", "rows => rows.slice(0, 3).map(r => parseFloat(r.children[3].textContent))")
    assert cells == sorted(cells, reverse=True) and all(c > 85 for c in cells)
    page.click("button.sort[data-sort='top1']")  # again: ascending
    page.wait_for_function("() => location.hash.includes('sort=top1')")
    assert _rows(page, 1) == _ids(zoo.list_models(sort="top1", limit=1))


@needs_browser
def test_clicking_a_chart_point_opens_its_card(page: Any) -> None:
    _open(page)
    _type(page, "resnet50")
    point = page.locator("#chart circle[data-id^='resnet50@']").first
    model_id = point.get_attribute("data-id")
    name, version = model_id.split("@")
    point.hover()
    assert model_id in page.text_content("#tip")
    point.click(force=True)
    page.wait_for_url(re.compile(rf"/models/{re.escape(name)}\.html#v-{re.escape(version)}$"))
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("h1") == name
    assert page.locator(f"section#v-{version} h2").text_content().startswith(model_id)
    # The front is drawn, and the chart follows the filters: only text models left, none has a top-1.
    page.go_back()
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("#chart polyline.pareto", "points")
    page.check(".facet[data-facet='modality'] input[value='text']")
    page.wait_for_function("() => document.querySelectorAll('#chart circle').length === 0")


@needs_browser
def test_a_card_copies_its_pull_command(page: Any) -> None:
    info = zoo.info("efficientnet_b0")
    _open(page, "/models/efficientnet_b0.html")
    button = page.locator(f"section#v-{info.version} button.copy").first
    button.click()
    page.wait_for_function("() => document.querySelector('button.copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == f"zoo pull {info.id}"
    stages = page.eval_on_selector_all(f"section#v-{info.version} table.stages tbody tr", "r => r.map(x => x.children[0].textContent)")
    assert stages == [s.name for s in info.stages]


@needs_browser
def test_a_shared_url_restores_the_same_view(page: Any, browser: Any, site: tuple[Path, str]) -> None:
    _open(page)
    _type(page, "resnet")
    page.check(".facet[data-facet='source'] input[value='timm']")
    page.click("button.sort[data-sort='top1']")
    page.select_option("#xaxis", "params")
    page.wait_for_function("() => location.hash.includes('x=params') && location.hash.includes('sort=-top1')")
    url, rows, count = page.url, _rows(page, 10), _count(page)
    other = browser.new_context(base_url=site[1]).new_page()
    other.goto(url)
    other.wait_for_selector("body[data-ready='1']")
    assert (_rows(other, 10), _count(other)) == (rows, count)
    assert other.input_value("#q") == "resnet" and other.is_checked(".facet[data-facet='source'] input[value='timm']")
    assert other.input_value("#xaxis") == "params" and other.text_content("#xname") == "parameters"
    other.context.close()


@needs_browser
def test_interactive_within_a_second_keyboard_and_no_javascript(page: Any, browser: Any, site: tuple[Path, str]) -> None:
    _open(page)
    ready = page.evaluate("performance.getEntriesByName('zoo-ready')[0].startTime")
    nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    timing = json.loads(nav)
    print(f"catalogue index: interactive at {ready:.0f} ms (DOM interactive {timing['domInteractive']:.0f} ms, "
          f"{timing['transferSize'] / 1e6:.2f} MB) with the full registry")
    assert ready < 1000, (ready, timing)
    # Keyboard: the search box is reachable with Tab and a facet toggles with Space.
    page.focus("body")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("vit")
    page.wait_for_function("() => location.hash.includes('q=vit')")
    page.focus(".facet[data-facet='modality'] input[value='vision']")
    page.keyboard.press("Space")
    page.wait_for_function("() => location.hash.includes('modality=vision')")
    # Without JavaScript: the plain table of every model, each row a link to its card.
    plain = browser.new_context(java_script_enabled=False, base_url=site[1]).new_page()
    plain.goto("/index.html")
    assert plain.locator("#plain tbody tr").count() == zoo.list_models().total
    assert not plain.is_visible("#q") and not plain.is_visible("#models")
    assert plain.get_attribute("#plain tbody tr a", "href").startswith("models/")
    plain.context.close()


@needs_browser
def test_screenshots_of_index_chart_and_card(page: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    _open(page)
    page.screenshot(path=str(SHOTS / "index.png"), full_page=False)
    page.locator("section.chart").screenshot(path=str(SHOTS / "chart.png"))
    _open(page, "/models/resnet50.html")
    page.screenshot(path=str(SHOTS / "card.png"), full_page=False)
    for name in ("index.png", "chart.png", "card.png"):
        data = (SHOTS / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name


@needs_browser
def test_text_models_chart_mteb_against_parameters_and_cards_show_each_task_type(page: Any, site: tuple[Path, str]) -> None:
    _open(page)
    page.check(".facet[data-facet='modality'] input[value='text']")
    page.select_option("#xaxis", "mteb")
    page.wait_for_function("() => location.hash.includes('x=mteb')")
    scored = [m for m in zoo.list_models(modality="text", all_versions=True) if m.metric("mteb") is not None and m.params]
    page.wait_for_function(f"() => document.querySelectorAll('#chart circle').length === {len(scored)}")
    assert page.text_content("#yname") == "MTEB(eng, v2) mean" and page.text_content("#xname") == "parameters"
    point = page.locator("#chart circle[data-id='bge-small-en-v1.5@hf_5c38ec7']")
    point.dispatch_event("mouseover")  # points crowd at 33M parameters: another may lie over it
    assert page.text_content("#tip") == "bge-small-en-v1.5@hf_5c38ec7: MTEB(eng, v2) 64.30, 33.4M params"
    card = (site[0] / "models" / "bge-small-en-v1.5.html").read_text()
    for name, value in (("mteb", "64.3"), ("mteb_retrieval", "53.86"), ("mteb_sts", "81.28"), ("mteb_by_type", "59.93")):
        assert re.search(rf"<td>{name}</td><td class=num>{value}</td><td>mteb-eng-v2</td>", card), name
    assert "Computed by zoo&#x27;s generator from the per-task main scores" in card and "f4cc6c8b3" in card
    # Versions that need their publisher's code are not in the catalogue (as zoo list leaves them out).
    assert not (site[0] / "models" / "nomic-embed-text-v1.5.html").exists()
