"""A repository's `.thoth.yaml`: its runtime environments, each mapped to a node class (SPEC §5.2).

The file is validated against Thamos's own schema (so `thamos check` in the s2i build accepts
what the bot accepts) and every error names the line and the fix.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from handlers import limits
from handlers.adviser import NodeClass
from handlers.problems import Problem
from handlers.yaml_source import (
    LOADER,
    YamlSource,
    describe_schema_error,
    first_schema_error,
    yaml_error_line,
)

CONFIG_PATH = ".thoth.yaml"
MANAGER_NAME = "thoth-bot"
RECOMMENDATION_TYPES = ["latest", "stable", "performance", "security", "testing"]
# How often the bot re-advises a repository whose Pipfiles do not change (seconds); off: never.
SCHEDULES = {"daily": 86400.0, "weekly": 7 * 86400.0, "monthly": 30 * 86400.0, "off": None}

_NULLABLE_STRING = {"type": ["string", "null"]}

# Thamos 1.29's schema (thamos/config.py), restated: what `thamos check` accepts.
RUNTIME_ENVIRONMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "cuda_version": _NULLABLE_STRING,
        "openblas_version": _NULLABLE_STRING,
        "openmpi_version": _NULLABLE_STRING,
        "cudnn_version": _NULLABLE_STRING,
        "mkl_version": _NULLABLE_STRING,
        "base_image": _NULLABLE_STRING,
        "labels": {"type": ["object", "null"]},
        "hardware": {
            "type": "object",
            "properties": {
                "cpu_family": {"type": "integer"},
                "cpu_model": {"type": "integer"},
                "gpu_model": _NULLABLE_STRING,
            },
            "additionalProperties": False,
        },
        "name": {"type": "string", "pattern": r"^[a-zA-Z0-9_-]+$"},
        "operating_system": {
            "type": "object",
            "properties": {"name": _NULLABLE_STRING, "version": _NULLABLE_STRING},
            "required": ["name", "version"],
            "additionalProperties": False,
        },
        "platform": _NULLABLE_STRING,
        "python_version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+$"},
        "recommendation_type": {"type": "string", "enum": RECOMMENDATION_TYPES},
    },
    "additionalProperties": False,
    "required": ["name"],
}

THAMOS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "host": {"type": "string"},
        "virtualenv": {"type": "boolean"},
        "tls_verify": {"type": "boolean"},
        "requirements_format": {"type": "string", "enum": ["pipenv", "pip", "pip-tools"]},
        "overlays_dir": _NULLABLE_STRING,
        "runtime_environments": {
            "type": "array",
            "items": RUNTIME_ENVIRONMENT_SCHEMA,
            "minItems": 1,
        },
        "managers": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "additionalProperties": True,
                "required": ["name"],
            },
        },
    },
    "required": ["host", "runtime_environments"],
}

# The bot's own options: `managers: [{name: thoth-bot, configuration: {...}}]`.
MANAGER_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}},
        "hooks": {"type": "boolean"},
        "schedule": {"enum": [*SCHEDULES, False]},  # YAML 1.1 reads a bare `off` as false
        "recommendation_type": {"type": "string", "enum": RECOMMENDATION_TYPES},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class RuntimeEnvironment:
    name: str
    node_class: NodeClass
    directory: str  # "" for the repository root
    python_version: str | None = None  # the entry's own
    recommendation_type: str | None = None  # the entry's own

    @property
    def pipfile_path(self) -> str:
        return posixpath.join(self.directory, "Pipfile")

    @property
    def lock_path(self) -> str:
        return posixpath.join(self.directory, "Pipfile.lock")


@dataclass(frozen=True)
class RepoConfig:
    environments: tuple[RuntimeEnvironment, ...]  # the ones the bot locks
    unlocked: tuple[str, ...] = ()  # declared, but without overlays only the first is locked
    overlays_dir: str | None = None
    hooks: bool = True
    labels: tuple[str, ...] | None = None
    schedule: str | None = None  # lock maintenance: daily | weekly | monthly | off
    recommendation_type: str | None = None
    from_file: bool = False  # False: no .thoth.yaml, the default node class at the root
    requirements_format: str = "pipenv"


def load_repo_config(
    text: str | None, *, node_classes: Mapping[str, NodeClass], default_node_class: str
) -> RepoConfig:
    """Read `.thoth.yaml` (None when the repository has none). Raises `Problem`."""
    if text is None:
        node_class = node_classes[default_node_class]
        return RepoConfig(
            environments=(
                RuntimeEnvironment(name=default_node_class, node_class=node_class, directory=""),
            )
        )
    source = _parse(text)
    data = source.data
    error = first_schema_error(THAMOS_SCHEMA, data)
    if error is not None:
        raise Problem(
            CONFIG_PATH,
            f"does not match Thamos's schema: {describe_schema_error(error)}",
            line=source.line(list(error.absolute_path)),
            fix="Correct the entry so that `thamos check` accepts the file "
            "(see https://github.com/thoth-station/thamos#configuration).",
        )
    manager = _manager_options(source)
    overlays_dir = _overlays_dir(source)
    entries = data["runtime_environments"]
    limits.check_count(
        CONFIG_PATH,
        "runtime environments",
        len(entries),
        limits.RUNTIME_ENVIRONMENTS,
        line=source.line(["runtime_environments"]),
    )
    _check_unique_names(source, entries)
    environments = []
    for index, entry in enumerate(entries if overlays_dir else entries[:1]):
        node_class = _node_class(source, index, entry, node_classes)
        environments.append(
            RuntimeEnvironment(
                name=entry["name"],
                node_class=node_class,
                directory=posixpath.join(overlays_dir, entry["name"]) if overlays_dir else "",
                python_version=entry.get("python_version"),
                recommendation_type=entry.get("recommendation_type"),
            )
        )
    requirements_format = data.get("requirements_format") or "pipenv"
    return RepoConfig(
        environments=tuple(environments) if requirements_format == "pipenv" else (),
        unlocked=tuple(entry["name"] for entry in entries[1:]) if not overlays_dir else (),
        overlays_dir=overlays_dir,
        hooks=manager.get("hooks", True),
        schedule="off" if manager.get("schedule") is False else manager.get("schedule"),
        labels=tuple(manager["labels"]) if "labels" in manager else None,
        recommendation_type=manager.get("recommendation_type"),
        from_file=True,
        requirements_format=requirements_format,
    )


def _parse(text: str) -> YamlSource:
    limits.check_size(CONFIG_PATH, text, limits.CONFIG_BYTES)
    try:
        _check_tokens(text)
        source = YamlSource(text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        if "nesting depth" in problem:  # libyaml's own bound, met before ours
            raise limits.too_deep(CONFIG_PATH) from None
        raise Problem(
            CONFIG_PATH,
            f"is not valid YAML: {problem}",
            line=yaml_error_line(error),
            fix="Correct the YAML syntax (indentation, quotes, colons) on that line.",
        ) from None
    if not isinstance(source.data, dict):
        raise Problem(
            CONFIG_PATH,
            "must be a YAML mapping with `host` and `runtime_environments`",
            line=1,
            fix="Start from `thamos config` or the example in the thoth-bot user guide.",
        )
    return source


def _check_tokens(text: str) -> None:
    """Refuse, before anything is built from them, YAML anchors and aliases (a few hundred
    bytes of aliases expand to gigabytes) and nesting past the limit: one linear pass over the
    tokens."""
    depth = 0
    opening = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
               yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)  # fmt: skip
    closing = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    for token in yaml.scan(text, Loader=LOADER):
        if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            raise Problem(
                CONFIG_PATH,
                "uses a YAML anchor or alias (`&name`, `*name`), which thoth-bot does not read",
                line=token.start_mark.line + 1,
                fix="Write the values out in full: .thoth.yaml is small enough without them.",
            )
        depth += isinstance(token, opening)
        depth -= isinstance(token, closing)
        if depth > limits.DEPTH:
            raise limits.too_deep(CONFIG_PATH)


_DIRECTORY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?")


def _overlays_dir(source: YamlSource) -> str | None:
    """`overlays_dir`, a relative path inside the repository (or None)."""
    value = source.data.get("overlays_dir") or None
    if value is None:
        return None
    parts = value.rstrip("/").split("/")
    if not _DIRECTORY.fullmatch(value) or ".." in parts or "." in parts:
        raise Problem(
            CONFIG_PATH,
            f"overlays_dir {value!r} is not a relative path inside the repository",
            line=source.line(["overlays_dir"]),
            fix="Name a directory of the repository, such as `overlays`: letters, digits, "
            "`.`, `_`, `-` and `/`, without `..`, `.` or a leading `/`.",
        )
    return value.rstrip("/")


def _manager_options(source: YamlSource) -> dict[str, Any]:
    for index, manager in enumerate(source.data.get("managers") or []):
        if manager.get("name") != MANAGER_NAME:
            continue
        options = manager.get("configuration")
        error = first_schema_error(MANAGER_SCHEMA, options)
        if error is not None:
            path = ["managers", index, "configuration", *error.absolute_path]
            raise Problem(
                CONFIG_PATH,
                f"the `{MANAGER_NAME}` manager's configuration is invalid: "
                f"{describe_schema_error(error)}",
                line=source.line(path),
                fix="Allowed options: `labels` (a list of label names), `hooks` (true or false), "
                f"`recommendation_type` (one of {', '.join(RECOMMENDATION_TYPES)}), `schedule` "
                f"(one of {', '.join(SCHEDULES)}).",
            )
        return options or {}
    return {}


def _check_unique_names(source: YamlSource, entries: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry["name"] in seen:
            raise Problem(
                CONFIG_PATH,
                f"runtime environment {entry['name']!r} is declared twice",
                line=source.line(["runtime_environments", index, "name"]),
                fix="Give every runtime environment a unique `name`.",
            )
        seen.add(entry["name"])


def _node_class(
    source: YamlSource, index: int, entry: dict[str, Any], node_classes: Mapping[str, NodeClass]
) -> NodeClass:
    labels = entry.get("labels") or {}
    wanted = labels.get("node_class")
    known = ", ".join(sorted(node_classes))
    if wanted is not None:
        if wanted in node_classes:
            return node_classes[wanted]
        raise Problem(
            CONFIG_PATH,
            f"runtime environment {entry['name']!r} asks for node class {wanted!r}, "
            "which this cluster does not declare",
            line=source.line(["runtime_environments", index, "labels", "node_class"]),
            fix=f"Set `labels.node_class` to one of: {known} "
            "(or ask the bot's operators to declare the node class you need).",
        )
    if entry["name"] in node_classes:
        return node_classes[entry["name"]]
    raise Problem(
        CONFIG_PATH,
        f"runtime environment {entry['name']!r} names no node class",
        line=source.line(["runtime_environments", index, "name"]),
        fix=f"Add `labels: {{node_class: NAME}}` to it, NAME one of: {known}.",
    )
