"""YAML documents that remember where each value came from, for messages that name a line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema
import yaml

# libyaml's parser where PyYAML was built with it (ten times the pure-Python one's speed: a
# repository's file is parsed in the process that answers webhooks).
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSource:
    """A parsed YAML document plus the line of every mapping key and sequence item."""

    def __init__(self, text: str):
        loader = LOADER(text)
        try:
            self.node = loader.get_single_node()
            self.data: Any = (
                loader.construct_document(self.node) if self.node is not None else None
            )
        finally:
            loader.dispose()

    def line(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the value at `path` (or of its nearest existing parent)."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for step in path:
            child = _child(node, step)
            if child is None:
                break
            node, line = child
        return line


def _child(node: yaml.Node | None, step: str | int) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == step:
                return value, key.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        item = node.value[step]
        return item, item.start_mark.line + 1
    return None


def yaml_error_line(error: yaml.YAMLError) -> int | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def describe_schema_error(error: jsonschema.ValidationError) -> str:
    """'runtime_environments[0].hardware.cpu_family: 'x' is not of type 'integer''."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    where = where.lstrip(".")
    return f"{where}: {error.message}" if where else error.message


def first_schema_error(schema: dict[str, Any], data: Any) -> jsonschema.ValidationError | None:
    """The most relevant validation error (the deepest one first), or None when valid."""
    validator = jsonschema.Draft7Validator(schema)
    return jsonschema.exceptions.best_match(validator.iter_errors(data))
