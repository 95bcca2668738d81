"""The one parser for model ids: ``[family/]name[@version]``."""

from __future__ import annotations

import re
from typing import NamedTuple

from zoo.errors import InvalidModelIdError

__all__ = ["ModelId", "parse_model_id", "NAME_PATTERN"]

# Names and versions: lowercase letters, digits, '.', '_' and '-', starting with
# a letter or digit. The same rule is enforced by the schema.
NAME_PATTERN = r"[a-z0-9][a-z0-9._-]*"
_ID = re.compile(rf"^(?:(?P<family>{NAME_PATTERN})/)?(?P<name>{NAME_PATTERN})(?:@(?P<version>{NAME_PATTERN}))?$")


class ModelId(NamedTuple):
    """A parsed model id.

    Attributes:
        name: The model's name (or one of its aliases).
        version: The requested version, or None for the model's default.
        family: The registry family (YAML file stem) if given, else None.
    """

    name: str
    version: str | None = None
    family: str | None = None

    def __str__(self) -> str:
        text = f"{self.family}/{self.name}" if self.family else self.name
        return f"{text}@{self.version}" if self.version else text


def parse_model_id(text: str) -> ModelId:
    """Parses ``[family/]name[@version]``.

    Matching is case-insensitive: ids are lowercased first.

    Example:
        >>> parse_model_id("resnet/ResNet50@tv_in1k")
        ModelId(name='resnet50', version='tv_in1k', family='resnet')
    """
    match = _ID.match(text.strip().lower())
    if match is None:
        raise InvalidModelIdError(
            f"{text!r} is not a valid model id. Use 'name', 'name@version' or "
            "'family/name@version' (lowercase letters, digits, '.', '_', '-')."
        )
    return ModelId(match["name"], match["version"], match["family"])
