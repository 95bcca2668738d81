"""Load, merge, index and search the model registry.

The registry is a set of YAML files, one per model family. Sources are merged
in layers, later layers over earlier ones:

1. the registry shipped with zoo (``registry/`` in a checkout,
   ``zoo/registry_data`` in a wheel);
2. each path in ``ZOO_REGISTRY`` (``os.pathsep``-separated files or folders);
3. each path passed as ``registries=`` (the CLI's ``--registry``).

Within one layer a name or alias defined twice is an error. A later layer may
redefine a whole model by name (that is how a local registry pins or patches
an entry); its aliases must still not collide with another model's.

Validating YAML needs pydantic, which costs more than a ``zoo list`` may take.
So the validated registry is kept as a small JSON index under
``$ZOO_HOME/index/``, keyed by the path, size and mtime of every source file
and by zoo's version; any edit to a registry file makes a new key, so the
index is never stale. Listing, searching and ``info`` read only that index.

The package's modules, each one job:

* ``_views``: :class:`ModelSummary`, :class:`ModelInfo` and its typed parts, what callers get;
* ``_load``: reading and validating YAML, merging layers, building the index data;
* ``_catalog``: the JSON index on disk and :class:`Catalog` lookups;
* ``_listing``: the index derived into rows a cold ``zoo list`` reads fast;
* ``_query``: :func:`list_models` filters, sorting, paging and :func:`search` ranking;
* ``_authoring``: reading an entry back as schema objects, adding one to a file;
* ``_import_folder``: a local model folder (Hugging Face, timm, ONNX) as an entry pinned by sha256.
"""

from zoo.registry._authoring import add_entry, get_entry
from zoo.registry._catalog import _CATALOGS, Catalog, load_catalog  # noqa: F401 (_CATALOGS: tests clear it)
from zoo.registry._compare import Comparison, compare
from zoo.registry._import_folder import ImportedFolder, import_folder
from zoo.registry._load import registry_files, validate_paths
from zoo.registry._query import info, list_models, parse_count, parse_size, rows, search
from zoo.registry._views import (
    DeclaredStage,
    FileInfo,
    HubSnapshot,
    InputSpec,
    Metric,
    ModelInfo,
    ModelList,
    ModelRow,
    ModelSummary,
    Paper,
    PypiMember,
    SearchWords,
    Source,
    VersionRow,
)

__all__ = [
    "Catalog",
    "Comparison",
    "compare",
    "ModelSummary",
    "ModelInfo",
    "ModelList",
    "Paper",
    "Metric",
    "InputSpec",
    "DeclaredStage",
    "FileInfo",
    "HubSnapshot",
    "Source",
    "PypiMember",
    "load_catalog",
    "validate_paths",
    "registry_files",
    "list_models",
    "search",
    "info",
    "get_entry",
    "parse_size",
    "parse_count",
    "add_entry",
    "import_folder",
    "ImportedFolder",
    "rows",
    "ModelRow",
    "VersionRow",
    "SearchWords",
]
