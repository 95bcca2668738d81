"""The site's HTML: the index (a plain table in ``<noscript>`` for readers without JavaScript, the page ``catalog.js`` drives for the rest) and the cards.

Every text from the registry goes through :func:`html.escape`; links to
papers and metric sources are kept only when they are http(s) URLs. The index
embeds its data as one JSON script element (``<script type="application/json">``,
with ``<`` escaped), so the page also works opened from disk (``file://``),
where a browser refuses to fetch a separate JSON file.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from zoo import _units
from zoo.adapters import modality_of
from zoo.site._data import Card, commands

if TYPE_CHECKING:
    from zoo.registry import ModelInfo

__all__ = ["index_page", "card_page", "human_size", "human_count"]

_COLUMNS = (  # (key, header, numeric)
    ("name", "Model", False), ("version", "Version", False), ("task", "Task", False), ("top1", "Top-1", True),
    ("params", "Params", True), ("gmacs", "GMACs", True), ("size", "Size", True), ("license", "License", False),
    ("source", "Source", False), ("tier", "Verification", False), ("year", "Year", True),
)
FACETS = (("task", "Task"), ("modality", "Modality"), ("license", "License"), ("source", "Source"),
          ("adapter", "Adapter"), ("tier", "Verification"))


def human_size(n: int | None) -> str:
    """As the CLI shows sizes (decimal units); empty when unknown."""
    return _units.human_size(n) if n else ""


def human_count(n: int | None) -> str:
    """As the CLI shows parameter counts; empty when unknown."""
    return _units.human_count(n) if n is not None else ""


def _link(url: str | None, text: str) -> str:
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{escape(url)}" rel="noopener">{escape(text)}</a>'
    return escape(text)


def _head(title: str, root: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{root}assets/catalog.css">\n</head>\n'
    )


def _figure(value: Any, fmt: str = "{:.2f}") -> str:
    return "" if value is None else fmt.format(value)


def index_page(data: dict[str, Any]) -> str:
    """The index: search, facets, the chart and the table (every model's default version, readable without JavaScript)."""
    title = data["title"]
    rows = []
    for m in data["models"]:
        v = next((v for v in m["versions"] if v["name"] == m["default"]), m["versions"][0])
        metrics = v["metrics"]
        size = human_size(v["size"]) if v["size_known"] else ""
        cells = [
            f'<td><a href="{escape(m["page"])}">{escape(m["name"])}</a></td>', f'<td>{escape(v["name"])}</td>',
            f'<td>{escape(v["task"])}</td>', f'<td class="num">{_figure(metrics.get("top1"))}</td>',
            f'<td class="num">{human_count(v["params"])}</td>', f'<td class="num">{_figure(metrics.get("gmacs"))}</td>',
            f'<td class="num">{"≈ " + size if v["size_estimated"] and size else size}</td>',
            f'<td>{escape(v["license"])}</td>', f'<td>{escape(v["source"])}</td>', f'<td>{escape(v["verification"])}</td>',
            f'<td class="num">{v["year"] or ""}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(
        f'<th scope="col" data-key="{key}"{" class=num" if numeric else ""}>'
        f'<button type="button" class="sort" data-sort="{key}">{label}</button></th>'
        for key, label, numeric in _COLUMNS
    )
    plain_header = "".join(f'<th scope="col"{" class=num" if numeric else ""}>{label}</th>' for _, label, numeric in _COLUMNS)
    facets = "".join(
        f'<fieldset class="facet" data-facet="{key}"><legend>{label}</legend><div class="values"></div></fieldset>'
        for key, label in FACETS
    )
    versions = sum(len(m["versions"]) for m in data["models"])
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    return (
        _head(title, "")
        + '<body data-page="index">\n<header><h1>' + escape(title) + "</h1>\n"
        f'<p class="lede">{len(data["models"])} models, {versions} versions, from zoo {escape(data["zoo"])}. '
        "Every file is pinned by size and hash; every figure links to where it is published.</p>\n</header>\n"
        '<main class="index">\n<section class="controls js-only" aria-label="Search">\n'
        '<label class="search"><span>Search</span> <input id="q" type="search" autocomplete="off" '
        'placeholder="resnet, vit imagenet, glove, resnet50.a1_in1k ..." aria-describedby="count"></label>\n'
        '<p id="count" role="status" aria-live="polite"></p>\n</section>\n'
        '<aside class="filters js-only" aria-label="Filters">\n<h2>Filter</h2>\n'
        f'{facets}\n<button type="button" id="clear">Clear filters</button>\n</aside>\n<div class="content">\n'
        '<section class="chart js-only" aria-label="ImageNet top-1 or MTEB against cost">\n'
        '<div class="chart-head"><h2><span id="yname">ImageNet top-1</span> against <span id="xname">GMACs</span></h2>\n'
        '<label>axes <select id="xaxis"><option value="gmacs">top-1 vs GMACs</option><option value="params">top-1 vs params</option>'
        '<option value="mteb">MTEB vs params (text)</option></select></label></div>\n'
        '<svg id="chart" role="img" aria-label="ImageNet top-1 accuracy against cost, one point per version" '
        'viewBox="0 0 960 420" preserveAspectRatio="xMidYMid meet"></svg>\n'
        '<div id="tip" class="tip" hidden></div>\n<ul id="legend" aria-label="Families"></ul>\n'
        '<p class="note">Log scale. One point per version with a published top-1 (or MTEB mean), coloured by architecture family; '
        "the red line is the Pareto front (nothing is both cheaper and more accurate). Click a point for its card.</p>\n"
        "</section>\n"
        '<section class="results" aria-label="Models">\n'
        f'<table id="models" class="js-only"><thead><tr>{header}</tr></thead>\n<tbody></tbody></table>\n'
        '<button type="button" id="more" class="js-only" hidden>Show all</button>\n'
        # Without JavaScript, the plain table; with it, a browser skips its contents unparsed (measured: parsing
        # 1,300 rows of cells delayed the interactive page by 0.4-0.8 s).
        "<noscript><p>Without JavaScript: every model's default version, with a link to its card; search, filters "
        f'and the chart need JavaScript.</p>\n<table id="plain"><thead><tr>{plain_header}</tr></thead>\n<tbody>\n'
        + "\n".join(rows) + "\n</tbody></table></noscript>\n"
        "</section>\n</div>\n</main>\n"
        f'<script id="zoo-data" type="application/json">{payload}</script>\n'
        '<script src="assets/catalog.js"></script>\n</body>\n</html>\n'
    )


def _copy(text: str, label: str) -> str:
    return (
        f'<div class="cmd"><pre><code>{escape(text)}</code></pre>'
        f'<button type="button" class="copy" data-copy="{escape(text, quote=True)}" aria-label="Copy: {escape(label)}">Copy</button></div>'
    )


def _version_section(info: ModelInfo, stage_info: tuple[list[tuple[str, int, int, str]], str]) -> str:
    parts = [f'<section class="version" id="v-{escape(info.version)}">']
    badge = ' <span class="badge">default</span>' if info.version == info.default else ""
    parts.append(f"<h2>{escape(info.id)}{badge}</h2>")
    facts = [
        ("Adapter", escape(f"{info.adapter} ({info.arch})")), ("License", escape(info.license)),
        ("Source", escape(info.source)), ("Verification", escape(info.verification)),
        ("Params", human_count(info.params)), ("Size", human_size(info.size)),
    ]
    if info.dataset:
        facts.append(("Trained on", escape(info.dataset)))
    if info.version_paper:
        facts.append(("Paper", _link(info.version_paper.url, info.version_paper.title)))
    parts.append("<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts if v) + "</dl>")
    if info.version_description:
        parts.append(f"<p>{escape(info.version_description)}</p>")
    if info.metrics:
        rows = "".join(
            f"<tr><td>{escape(m.name)}</td><td class=num>{m.value:g}</td><td>{escape(m.dataset or '')}</td>"
            f"<td class=num>{m.resolution or m.tasks or ''}</td><td>{_link(m.source, _short(m.source))}</td></tr>"
            for m in info.metrics
        )
        notes = sorted({m.note for m in info.metrics if m.note})
        parts.append(
            "<h3>Metrics</h3><table class=metrics><thead><tr><th>Metric</th><th>Value</th><th>Dataset</th>"
            f"<th>Resolution / tasks</th><th>Published at</th></tr></thead><tbody>{rows}</tbody></table>"
            + "".join(f"<p class=note>{escape(n[:1].upper() + n[1:])}.</p>" for n in notes)
        )
    spec = info.input
    if spec is not None:
        items = [
            ("shape", spec.shape), ("mean", spec.mean), ("std", spec.std), ("interpolation", spec.interpolation),
            ("crop_pct", spec.crop_pct), ("tokenizer", spec.tokenizer), ("max_length", spec.max_length),
        ]
        shown = "".join(
            f"<dt>{k}</dt><dd>{escape(' x '.join(map(str, v)) if k == 'shape' else str(list(v)) if isinstance(v, tuple) else str(v))}</dd>"
            for k, v in items if v is not None
        )
        parts.append(f"<h3>Input</h3><dl>{shown}</dl>")
    stages, origin = stage_info
    if stages:
        size = f" at {info.input.shape[-1]} px" if spec is not None and spec.shape and not modality_of(info).tokens else ""
        rows = "".join(
            f"<tr><td><code>{escape(n)}</code></td><td class=num>{c}</td><td class=num>{s}</td><td>{escape(o)}</td></tr>"
            for n, c, s, o in stages
        )
        if origin == "derived":
            where = "derived from the architecture on this machine"
        elif origin.startswith("table: "):
            where = f"derived from the architecture with {escape(origin[7:])} (zoo's stage table)"
        else:
            where = f"as the registry declares them; <code>zoo stages {escape(info.id)}</code> derives every cut point"
        parts.append(
            f"<h3>Stages</h3><p class=note>Cut points, {where}.</p><table class=stages><thead><tr><th>Stage</th>"
            f"<th>Channels</th><th>Stride</th><th>Output{size}</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        parts.append(
            f"<h3>Stages</h3><p class=note>Not derived yet: <code>zoo stages {escape(info.id)}</code> lists them from the "
            "architecture (or build the site with <code>zoo catalog --derive-stages</code>).</p>"
        )
    rows = "".join(
        f"<tr><td><code>{escape(f.path)}</code></td><td class=num>{human_size(f.size) or 'unpublished'}</td>"
        f"<td><code class=hash>{escape(_hash(f))}</code></td><td>{escape(f.tier)}</td></tr>"
        for f in info.files
    )
    parts.append(
        "<h3>Files</h3><table class=files><thead><tr><th>File</th><th>Size</th><th>Hash</th><th>Verification</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    names = [row[0] for row in stages]
    parts.append("<h3>Use it</h3>" + "".join(_copy(text, f"{what} {info.id}") for what, text in commands(info, names)))
    parts.append("</section>")
    return "\n".join(parts)


def _short(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail if len(tail) <= 60 else tail[:57] + "..."


def _hash(file: Any) -> str:
    if file.sha256:
        return f"sha256:{file.sha256}"
    if file.hash is not None:
        return ":".join(file.hash)
    return "hub (recorded on first pull)"


def card_page(card: Card, title: str) -> str:
    """A model's card: what it is, then each version (default first) with metrics, input, stages, files and commands."""
    info = card.default
    ordered = [info, *(v for v in card.versions if v is not info)]
    paper = _link(info.paper.url, info.paper.title) + (f" ({info.paper.year})" if info.paper.year else "") if info.paper else ""
    names = ", ".join(escape(a) for a in info.aliases)
    nav = "".join(f'<li><a href="#v-{escape(v.version)}">{escape(v.version)}</a></li>' for v in ordered)
    facts = [("Task", escape(info.task)), ("Modality", escape(info.modality)), ("Architecture", escape(info.architecture)),
             ("Paper", paper), ("Also called", names), ("Tags", escape(", ".join(info.tags))),
             ("Family", escape(info.family))]
    return (
        _head(f"{card.name} - {title}", "../")
        + '<body data-page="card">\n<header><p><a href="../index.html">&larr; ' + escape(title) + "</a></p>\n"
        f"<h1>{escape(card.name)}</h1>\n"
        + (f"<p class=lede>{escape(info.description)}</p>\n" if info.description else "")
        + "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts if v) + "</dl>\n"
        f'<nav aria-label="Versions"><h2>{len(ordered)} version{"s" if len(ordered) != 1 else ""}</h2><ul>{nav}</ul></nav>\n'
        "</header>\n<main>\n" + "\n".join(_version_section(v, card.stages[v.version]) for v in ordered) + "\n</main>\n"
        '<script src="../assets/catalog.js"></script>\n</body>\n</html>\n'
    )
