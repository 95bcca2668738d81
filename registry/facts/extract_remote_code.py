"""Which MTEB models need their publisher's code: read from mteb's own ModelMeta definitions.

Run with the root of the unpacked mteb 2.26.24 wheel (the one ../shared/manifests/mteb/model_metas.json
was read from): ``python registry/facts/extract_remote_code.py DIR > registry/facts/mteb-remote-code.json``.
A model counts when its ``ModelMeta(...)`` passes ``trust_remote_code=True`` to its loader: in
``loader_kwargs`` (a dict literal, ``dict(...)``, or a module-level name bound to one) or in a
``partial(..., trust_remote_code=True)`` loader. zoo never runs such code; the registry marks these
versions ``requires: [remote-code]``.
"""

import ast
import glob
import json
import os
import sys


def _true_flag(node: ast.AST, names: dict[str, ast.AST]) -> bool:
    if isinstance(node, ast.Name) and node.id in names:
        return _true_flag(names[node.id], names)
    if isinstance(node, ast.Dict):
        return any(
            isinstance(k, ast.Constant) and k.value == "trust_remote_code" and isinstance(v, ast.Constant) and v.value is True
            for k, v in zip(node.keys, node.values)
        ) or any(k is None and _true_flag(v, names) for k, v in zip(node.keys, node.values))
    if isinstance(node, ast.Call):
        return any(
            (kw.arg == "trust_remote_code" and isinstance(kw.value, ast.Constant) and kw.value.value is True)
            or (kw.arg is None and _true_flag(kw.value, names))
            for kw in node.keywords
        )
    return False


def main(root: str) -> None:
    found = []
    for path in sorted(glob.glob(os.path.join(root, "mteb/models/model_implementations/*.py"))):
        tree = ast.parse(open(path, encoding="utf-8").read())
        names = {
            n.targets[0].id: n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ModelMeta"):
                continue
            kws = {kw.arg: kw.value for kw in node.keywords}
            name = kws.get("name")
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            if any(_true_flag(kws[k], names) for k in ("loader_kwargs", "loader") if k in kws):
                found.append(name.value)
    doc = {
        "source": "mteb 2.26.24 wheel (PyPI), mteb/models/model_implementations/*.py: ModelMeta(...) whose loader "
        "or loader_kwargs pass trust_remote_code=True (registry/facts/extract_remote_code.py)",
        "remote_code": sorted(set(found)),
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
