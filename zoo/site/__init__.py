"""The catalogue site: ``zoo catalog -o site/`` writes the registry as a static site.

``build_site("site/")`` writes::

    site/
    ├── index.html          search, facets, the top-1 vs cost chart and the table;
    │                       its data is one compact JSON element inside it
    ├── models/<name>.html  a card per model: every version's metrics (with sources),
    │                       input, stages, files (size, hash, tier) and commands to copy
    ├── assets/catalog.js   the index's search (zoo search's scoring), facets, sorting,
    │                       chart and shareable URLs; the cards' copy buttons
    ├── assets/catalog.css
    └── .zoo-site           marks the folder as one zoo wrote (it may replace it)

Nothing is fetched, to build or to view: no CDN, no web fonts, no library
(the chart is SVG drawn by ``catalog.js``). Without JavaScript the index is a
plain table of every model's default version with links to the cards. Any
static server (nginx, S3 website hosting, GitHub Pages) serves the folder, and
it also works opened from disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from zoo import _atomic
from zoo._version import __version__
from zoo.errors import InvalidOptionError
from zoo.registry import Catalog, load_catalog
from zoo.site._data import cards, index_data
from zoo.site._pages import card_page, index_page

__all__ = ["SiteResult", "build_site", "MARKER"]

MARKER = ".zoo-site"
ASSETS = ("catalog.js", "catalog.css")


@dataclass(frozen=True)
class SiteResult:
    """What :func:`build_site` wrote.

    Attributes:
        path: The site folder; index: its ``index.html``.
        models, versions: How many the site shows.
        pages: Files written (index, cards, assets).
        bytes: Their total size; index_bytes: index.html alone (its data inside).
        seconds: Wall time.
        stages: Versions whose card shows stages derived from the architecture (here or in the shipped table).
        stages_failed: ``derive_stages``: ids whose architecture could not be built, with why.
    """

    path: Path
    index: Path
    models: int
    versions: int
    pages: int
    bytes: int
    index_bytes: int
    seconds: float
    stages: int = 0
    stages_failed: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "path": str(self.path), "index": str(self.index)}


def build_site(
    output: str | os.PathLike[str],
    *,
    title: str = "zoo model catalogue",
    registries: Sequence[str | os.PathLike[str]] | None = None,
    only: bool = False,
    derive_stages: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> SiteResult:
    """Writes the static catalogue of the registry (plus ``registries``) into the folder ``output``.

    The folder appears whole or not at all; an earlier site there is
    replaced. A folder that is not empty and not a zoo site is refused.

    Args:
        output: The site folder.
        title: The site's title.
        registries: Registry files or folders merged over the shipped one.
        only: Show only the models defined in ``registries`` (a team's own catalogue).
        derive_stages: First derive the stages of every version not derived yet
            (as ``zoo stages`` does, into the stage cache): imports the
            frameworks and builds each architecture without weights, minutes
            for the whole registry. Without it, cards show the stages derived
            before and otherwise the registry's declared list.
        progress: Called with ``{"event": "progress", "model": "stages", "done", "total"}`` while deriving.

    Raises:
        InvalidOptionError: ``output`` is a file, or a folder of something else; ``only`` without registries,
            or registries that define no model.
        RegistryError: A registry file is invalid.
    """
    start = time.perf_counter()
    target = Path(output)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MARKER).is_file())):
        raise InvalidOptionError(
            f"{target} exists and is not a site zoo wrote (no {MARKER} in it); give a new or empty folder, "
            "or remove it first"
        )
    catalog = load_catalog(registries)
    if only:
        catalog = _only(catalog, registries or ())
    data, pages = index_data(catalog, title, __version__)
    failed = _derive(catalog, pages, progress) if derive_stages else ()
    total = count = index_bytes = 0
    with _atomic.atomic_folder(target, replace=True) as tmp:
        (tmp / "models").mkdir()
        (tmp / "assets").mkdir()

        def write(rel: str, text: str) -> None:
            nonlocal total, count
            raw = text.encode("utf-8")
            (tmp / rel).write_bytes(raw)
            total += len(raw)
            count += 1

        html = index_page(data)
        index_bytes = len(html.encode("utf-8"))
        write("index.html", html)
        derived = 0
        for card in cards(catalog, pages):
            derived += sum(origin == "derived" or origin.startswith("table") for _, origin in card.stages.values())
            write(card.page, card_page(card, title))
        for name in ASSETS:
            write(f"assets/{name}", resources.files("zoo.site").joinpath("assets", name).read_text(encoding="utf-8"))
        (tmp / MARKER).write_text(f"zoo {__version__}\n")
    versions = sum(len(m["versions"]) for m in data["models"])
    return SiteResult(
        target, target / "index.html", len(data["models"]), versions, count, total, index_bytes, time.perf_counter() - start,
        derived, failed,
    )


def _only(catalog: Catalog, registries: Sequence[str | os.PathLike[str]]) -> Catalog:
    """The catalog's models whose registry file is one of ``registries`` (or inside one of those folders)."""
    roots = [Path(r).resolve() for r in registries]
    if not roots:
        raise InvalidOptionError("showing only the given registries' models (only=True, --only) needs at least one: add --registry FILE")

    def mine(path: str) -> bool:
        file = Path(path).resolve()
        return any(file == root or root in file.parents for root in roots)

    only = catalog.only(mine)
    if not len(only):
        raise InvalidOptionError(f"{', '.join(map(str, registries))} define no model; nothing to show")
    return only


def _derive(catalog: Catalog, pages: dict[str, str], progress: Callable[[dict[str, Any]], None] | None) -> tuple[tuple[str, str], ...]:
    """Derives (into the stage cache) the stages of every version whose architecture needs no file; returns the failures."""
    from zoo import _stages
    from zoo._plugins import ADAPTERS
    from zoo.site._stage_table import derivable, derive_each

    infos, _ = derivable(catalog, pages)
    todo = [info for info in infos if _stages.cached(info, ADAPTERS[info.adapter]) is None]
    failed = [(info.id, why) for info, found, why in derive_each(todo, progress) if found is None]
    return tuple(failed)
