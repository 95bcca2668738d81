"""MTEB: every open-weight text-embedding model MTEB describes, pinned at its commit, with its MTEB(eng, v2) scores.

Reads ``mteb/model_metas.json`` (mteb 2.26.24's ``ModelMeta`` literals),
``mteb/mteb-eng-v2-by-model.csv`` (the main score of each of the 41
MTEB(eng, v2) tasks, per model) and ``mteb/task-types.csv``, plus
``registry/facts/mteb-remote-code.json`` (which ``ModelMeta`` pass
``trust_remote_code=True`` to their loader, read from the same mteb wheel).

A version is a ``snapshot``: the Hub repo at the 40-hex revision MTEB pins.
The manifest pins the commit, not the files, so the first pull lists that
commit's files through the Hub's API and keeps what the model needs
(:data:`zoo.schema.SNAPSHOT_FILES`). ``arch: auto``: the architecture is
the ``model_type`` of the pinned ``config.json``. Sizes are estimated from
the parameter count (4 bytes each) until the listing gives them.

Scores: per task the main score (×100) as the results repository publishes
it; zoo's generator computes from them the mean over all 41 tasks
(``mteb``, only when every task is present), each task type's mean
(``mteb_retrieval``, ..., only when every task of the type is present) and
the mean of the 7 type means (``mteb_by_type``, the leaderboard's "Mean
(TaskType)"). Each metric says so in its ``note`` and counts its ``tasks``.

Left out, and counted: models without open weights or without a pinned
commit, models whose modalities include images, audio or video (no zoo
adapter reads them), names that are not a Hub repo id. Dense models are
``sentence-embedding``; cross-encoders (rerankers: ``text-classification``),
late-interaction (ColBERT), sparse, hybrid and router models are registered
too, tagged with their kind (``feature-extraction``): zoo cuts their
transformer like any encoder, but their publisher's scoring head or
multi-vector use is not one pooled vector.

Naming: the model is the repo's name lowercased (``bge-small-en-v1.5``);
when two publishers share a name, both are ``owner-name``. A hand-written
model of that name (or alias) gets the version merged in. The version is
``hf_`` + the first 7 hex digits of the revision. The repo id
(``BAAI/bge-small-en-v1.5``) is the version's publisher id.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from zoo._ids import NAME_PATTERN
from zoo.registry.generate._common import Context, SourceOutput

__all__ = ["collect", "RESULTS_COMMIT", "TYPE_METRICS"]

# embeddings-benchmark/results at the commit ../shared/manifests/mteb was computed from.
RESULTS_COMMIT = "f4cc6c8b3"
RESULTS = f"https://github.com/embeddings-benchmark/results/tree/{RESULTS_COMMIT}/results"
MTEB_VERSION = "2.26.24"
NOTE = "computed by zoo's generator from the per-task main scores of the MTEB results repository"
DATASET = "mteb-eng-v2"
# MTEB task type -> metric name.
TYPE_METRICS = {
    "Classification": "mteb_classification",
    "Clustering": "mteb_clustering",
    "PairClassification": "mteb_pair_classification",
    "Reranking": "mteb_reranking",
    "Retrieval": "mteb_retrieval",
    "STS": "mteb_sts",
    "Summarization": "mteb_summarization",
}
_NAME = re.compile(f"^{NAME_PATTERN}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
# MTEB's model_type -> (task, tag). A dense model gives one vector per text; the others are transformers
# backbones all the same (token states at every layer), used by their publisher another way.
_KINDS = {
    "dense": ("sentence-embedding", None),
    "late-interaction": ("feature-extraction", "late-interaction"),
    "sparse": ("feature-extraction", "sparse"),
    "hybrid": ("feature-extraction", "hybrid"),
    "router": ("feature-extraction", "router"),
    "cross-encoder": ("text-classification", "cross-encoder"),
}


def facts_folder() -> Path:
    """``registry/facts`` of the source checkout (the shipped registry's folder in a wheel)."""
    from zoo import _settings

    return _settings.shipped_registry() / "facts"


def _scores(folder: Path) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """(model -> task -> main score, task -> type) from the manifest's CSV files."""
    with open(folder / "task-types.csv", encoding="utf-8", newline="") as fh:
        types = {row["task"]: row["type"] for row in csv.DictReader(fh)}
    scores: dict[str, dict[str, float]] = {}
    with open(folder / "mteb-eng-v2-by-model.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            scores[row["model"]] = {task: float(row[task]) for task in types if row.get(task)}
    return scores, types


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 2)


def metrics_of(tasks: dict[str, float], types: dict[str, str]) -> list[dict[str, Any]]:
    """The MTEB metrics of one model's per-task scores: the 41-task mean, each complete type's mean, the mean of type means."""
    out: list[dict[str, Any]] = []
    base = {"source": RESULTS, "dataset": DATASET, "note": NOTE}
    if tasks and len(tasks) == len(types):
        out.append({"name": "mteb", "value": _mean(list(tasks.values())), **base, "tasks": len(tasks)})
    type_means = {}
    for kind, metric in TYPE_METRICS.items():
        names = [t for t, k in types.items() if k == kind]
        if names and all(t in tasks for t in names):
            # Rounded before the mean of means, as the leaderboard shows and averages them.
            type_means[kind] = _mean([tasks[t] for t in names])
            out.append({"name": metric, "value": type_means[kind], **base, "tasks": len(names)})
    if len(type_means) == len(TYPE_METRICS):
        out.append({"name": "mteb_by_type", "value": _mean(list(type_means.values())), **base, "tasks": len(tasks)})
    return out


def collect(ctx: Context) -> SourceOutput:
    """Reads the MTEB manifests."""
    out = SourceOutput("mteb")
    folder = ctx.manifests / "mteb"
    metas = json.loads((folder / "model_metas.json").read_text(encoding="utf-8"))["models"]
    scores, types = _scores(folder)
    facts = facts_folder() / "mteb-remote-code.json"
    if not facts.is_file():
        raise FileNotFoundError(f"no {facts}: the MTEB source needs the remote-code facts read from the mteb wheel")
    remote = set(json.loads(facts.read_text(encoding="utf-8"))["remote_code"])
    out.header = [
        f"MTEB: model metas of mteb {MTEB_VERSION} (PyPI; mteb/models/model_implementations/*.py ModelMeta literals);",
        f"MTEB(eng, v2) per-task main scores from embeddings-benchmark/results @ {RESULTS_COMMIT}, 41 tasks; the means",
        "(mteb, mteb_<type>, mteb_by_type) are computed by this generator from those per-task scores.",
        "Versions are Hub snapshots at the pinned revision: the first pull lists the files and checks each against",
        "the Hub's sha256 (LFS) or git blob id; sizes are estimated from the parameter count until then.",
        "requires: [remote-code] from registry/facts/mteb-remote-code.json (ModelMeta passing trust_remote_code=True).",
    ]
    kept, seen = [], set()
    for meta in sorted(metas, key=lambda m: (str(m.get("name")), str(m.get("source_file")))):
        if not _keep(out, meta):
            continue
        if meta["name"] in seen:
            out.skipped["defined twice in mteb (the first definition, by source file, is kept)"] += 1
            continue
        seen.add(meta["name"])
        kept.append(meta)
    short = Counter(m["name"].split("/", 1)[1].lower() for m in kept)
    for meta in sorted(kept, key=lambda m: m["name"].lower()):
        owner, repo = meta["name"].split("/", 1)
        name = repo.lower() if short[repo.lower()] == 1 else f"{owner}-{repo}".lower()
        if not _NAME.match(name):
            out.skipped["a repo name that is no registry name"] += 1
            continue
        _one(ctx, out, ctx.model_name(name), meta, metrics_of(scores.get(meta["name"], {}), types), meta["name"] in remote)
    return out


def _keep(out: SourceOutput, meta: dict[str, Any]) -> bool:
    """True for an open-weight dense text model pinned at a commit; else counts why not."""
    modalities = meta.get("modalities")
    if not meta.get("open_weights"):
        out.skipped["weights not open (an API or a closed model)"] += 1
    elif not _HEX40.match(str(meta.get("revision") or "")):
        out.skipped["no pinned 40-hex revision"] += 1
    elif modalities not in (None, ["text"]):
        out.skipped["images, audio or video among its modalities: no zoo adapter reads them"] += 1
    elif len(meta.get("model_type") or ["dense"]) != 1 or (meta.get("model_type") or ["dense"])[0] not in _KINDS:
        out.skipped[f"a model of a kind zoo does not know ({meta['model_type']})"] += 1
    elif not _REPO.match(str(meta.get("name"))):
        out.skipped["a name that is not a Hugging Face repo id"] += 1
    else:
        return True
    return False


def _license(value: Any) -> str:
    if not value or value == "not specified":
        return "unknown"  # MTEB states none
    return str(value)


def _one(ctx: Context, out: SourceOutput, name: str, meta: dict[str, Any], metrics: list[dict[str, Any]], remote: bool) -> None:
    repo, revision = meta["name"], meta["revision"]
    params = meta.get("n_parameters") if isinstance(meta.get("n_parameters"), int) and meta["n_parameters"] > 0 else None
    dims = meta.get("embed_dim")
    embed_dim = max(dims) if isinstance(dims, list) and dims else dims if isinstance(dims, int) and dims > 0 else None
    languages = meta.get("languages") or []
    frameworks = meta.get("framework") or []
    task, kind = _KINDS[(meta.get("model_type") or ["dense"])[0]]
    tags = ["mteb", "text-embedding"] if kind is None else ["mteb", kind]
    if any(str(lang).startswith("eng") for lang in languages):
        tags.append("english")
    if len(languages) > 1:
        tags.append("multilingual")
    if "Sentence Transformers" in frameworks:
        tags.append("sentence-transformers")
    if meta.get("use_instructions"):
        tags.append("instructions")
    if any(m["name"] == "mteb_retrieval" for m in metrics):
        tags.append("retrieval")
    what = "a text embedding model" if kind is None else f"a {kind} text model"
    facts = [f"{repo} at revision {revision[:8]}, {what} as MTEB {MTEB_VERSION} describes it"]
    if embed_dim:
        facts.append(f"{embed_dim}-dimensional vectors")
    if isinstance(meta.get("max_tokens"), int):
        facts.append(f"up to {meta['max_tokens']} tokens")
    if meta.get("similarity_fn_name"):
        facts.append(f"{meta['similarity_fn_name']} similarity")
    description = ", ".join(facts) + "."
    if meta.get("adapted_from"):
        description += f" Adapted from {meta['adapted_from']}."
    if meta.get("superseded_by"):
        description += f" Superseded by {meta['superseded_by']}."
    if remote:
        description += " Needs its publisher's Python code (trust_remote_code), which zoo never runs."
    version: dict[str, Any] = {
        "adapter": "transformers",
        "arch": "auto",
        "license": _license(meta.get("license")),
        "description": description,
        "params": params,
        "embed_dim": embed_dim,
        "metrics": metrics or None,
        "input": {"max_length": meta["max_tokens"]} if isinstance(meta.get("max_tokens"), int) and meta["max_tokens"] > 0 else None,
        "snapshot": {"hf": repo, "revision": revision, **({"size_estimate": params * 4} if params else {})},
        "tags": sorted(set(tags)),
        "ids": [repo],
        "requires": ["remote-code"] if remote else None,
    }
    version = {k: v for k, v in version.items() if v is not None}
    model = {
        "task": task,
        "modality": "text",
        "architecture": repo.split("/", 1)[1],
        "description": f"{repo}: {what} tracked by MTEB.",
        "default": f"hf_{revision[:7]}",
    }
    out.add(name, model, f"hf_{revision[:7]}", version, origin=repo.split("/", 1)[0].lower())
