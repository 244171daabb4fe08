"""Hardware rules: Thoth's prescriptions for the embedded adviser, as data.

A rule says *when* it applies (the packages of the stack, the node class's CPU flags, GPU,
CUDA/cuDNN, Python, platform) and *what* it does: constrain versions, prefer an index (a
CUDA-specific wheel index, say) and add guidance in Thoth's `{type, message, link}` form.
The rules shipped with the bot live in `bot/data/hardware-rules.yaml`; operators add theirs
under `adviser.rules` in the bot's configuration (a rule with a shipped rule's id replaces it).

Messages may name the node class's fields: {node_class}, {gpu_model}, {cuda_version},
{cudnn_version}, {python_version}, {platform}, {cpu_flags}.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from handlers.adviser import Guidance, NodeClass

RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "when"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]*$"},
        "when": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "packages": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "cpu_flags": {"type": "array", "items": {"type": "string"}},
                "cpu_flags_missing": {"type": "array", "items": {"type": "string"}},
                "gpu": {"type": "boolean"},
                "gpu_model": {"type": "string"},
                "cuda": {"type": "string"},
                "cudnn": {"type": "string"},
                "compute_capability": {"type": "string"},
                "python": {"type": "string"},
                "platform": {"type": "array", "items": {"type": "string"}},
                # The recommendation types the rule is for (all, when absent).
                "recommendation_types": {
                    "type": "array",
                    "items": {
                        "enum": ["latest", "stable", "performance", "security", "testing"]
                    },
                },
                "resolved": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "constrain": {"type": "object", "additionalProperties": {"type": "string"}},
        "extras": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "index": {
            "type": "object",
            "required": ["name", "url"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
                "url": {"type": "string", "pattern": r"^https?://"},
                "verify_ssl": {"type": "boolean"},
                "packages": {"type": "array", "items": {"type": "string"}},
            },
        },
        "guidance": {
            "type": "object",
            "required": ["type", "message"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["ERROR", "WARNING", "INFO"]},
                "message": {"type": "string"},
                "link": {"type": "string"},
            },
        },
    },
}


@dataclass(frozen=True)
class Index:
    """An index the packages of a rule come from (and only from: uv's explicit index)."""

    name: str
    url: str
    verify_ssl: bool = True
    packages: tuple[str, ...] = ()  # canonical names


@dataclass(frozen=True)
class Rule:
    id: str
    when: Mapping[str, Any]
    constrain: Mapping[str, str] = field(default_factory=dict)
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # package -> extras
    index: Index | None = None
    guidance: Guidance | None = None

    def applies(
        self,
        node_class: NodeClass,
        python_version: str,
        packages: set[str],
        resolved: Mapping[str, str] | None = None,
    ) -> bool:
        """Whether the rule holds for the stack; a rule on what was resolved (`when.resolved`,
        {package: specifier}, any of them) holds only given the versions `resolved`."""
        when, hardware = self.when, node_class.hardware
        if "resolved" in when:
            if resolved is None or not any(
                canonicalize_name(name) in resolved
                and _version_in(resolved[canonicalize_name(name)], condition)
                for name, condition in when["resolved"].items()
            ):
                return False
        flags = {flag.lower() for flag in hardware.cpu_flags}
        checks = [
            not when.get("packages")
            or any(canonicalize_name(name) in packages for name in when["packages"]),
            all(flag.lower() in flags for flag in when.get("cpu_flags", ())),
            not when.get("cpu_flags_missing")
            or any(flag.lower() not in flags for flag in when["cpu_flags_missing"]),
            "gpu" not in when or when["gpu"] == bool(hardware.gpu_model),
            "gpu_model" not in when
            or bool(re.search(when["gpu_model"], hardware.gpu_model or "", re.IGNORECASE)),
            "cuda" not in when or _version_in(node_class.cuda_version, when["cuda"]),
            "cudnn" not in when or _version_in(node_class.cudnn_version, when["cudnn"]),
            "compute_capability" not in when
            or _version_in(node_class.compute_capability, when["compute_capability"]),
            "python" not in when or _version_in(python_version, when["python"]),
            "platform" not in when or node_class.platform in when["platform"],
        ]
        return all(checks)

    def say(self, node_class: NodeClass, python_version: str) -> Guidance | None:
        if self.guidance is None:
            return None
        fields = {
            "node_class": node_class.name,
            "gpu_model": node_class.hardware.gpu_model or "no GPU",
            "cuda_version": node_class.cuda_version or "none",
            "cudnn_version": node_class.cudnn_version or "none",
            "cuda_driver_version": node_class.cuda_driver_version or "unknown",
            "compute_capability": node_class.compute_capability or "unknown",
            "python_version": python_version,
            "platform": node_class.platform,
            "cpu_flags": ", ".join(node_class.hardware.cpu_flags) or "none",
        }
        return Guidance(
            self.guidance.type,
            self.guidance.message.format_map(_Fields(fields)),
            self.guidance.link,
        )


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _version_in(version: str | None, condition: str) -> bool:
    """'none' matches a missing version; otherwise a PEP 440 specifier such as '>=12,<12.3'."""
    if condition.strip().lower() == "none":
        return version is None
    if version is None:
        return False
    try:
        return Version(version) in SpecifierSet(condition)
    except (InvalidVersion, InvalidSpecifier):
        return False


@dataclass(frozen=True)
class Prescription:
    """What the rules that apply to one advise ask for, together."""

    constraints: tuple[str, ...]  # "tensorflow<1.6"
    indexes: tuple[Index, ...]  # where the packages they name come from
    guidance: tuple[Guidance, ...]
    applied: tuple[str, ...]  # rule ids
    extras: tuple[tuple[str, str], ...] = ()  # (canonical package, extra) to require


def prescribe(
    rules: Iterable[Rule],
    node_class: NodeClass,
    python_version: str,
    packages: Iterable[str],
    resolved: Mapping[str, str] | None = None,
) -> Prescription:
    """What the rules that hold ask for: before resolving (`resolved` None), the rules on the
    stack and the hardware; after, given the versions `resolved` ({name: version}), the rules
    on what was resolved (builds that do not work together)."""
    names = {canonicalize_name(name) for name in packages}
    rules = [rule for rule in rules if ("resolved" in rule.when) == (resolved is not None)]
    constraints: list[str] = []
    indexes: list[Index] = []
    guidance: list[Guidance] = []
    applied: list[str] = []
    extras: list[tuple[str, str]] = []
    for rule in rules:
        if not rule.applies(node_class, python_version, names, resolved):
            continue
        applied.append(rule.id)
        constraints += [f"{name}{spec}" for name, spec in rule.constrain.items()]
        extras += [
            (canonicalize_name(name), extra)
            for name, wanted in rule.extras.items()
            for extra in wanted
            if canonicalize_name(name) in names
        ]
        if rule.index is not None and rule.index not in indexes:
            indexes.append(rule.index)
        said = rule.say(node_class, python_version)
        if said is not None:
            about = [p for p in rule.when.get("packages") or () if canonicalize_name(p) in names]
            guidance.append(dataclasses.replace(said, package=about[0]) if about else said)
    return Prescription(
        tuple(constraints), tuple(indexes), tuple(guidance), tuple(applied), tuple(extras)
    )


def parse_rules(entries: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """Rules from already schema-checked mappings (see RULE_SCHEMA)."""
    rules = []
    for entry in entries:
        index = entry.get("index")
        guidance = entry.get("guidance")
        packages = (index or {}).get("packages") or entry["when"].get("packages") or ()
        rules.append(
            Rule(
                id=entry["id"],
                when=dict(entry["when"]),
                constrain=dict(entry.get("constrain") or {}),
                extras={name: tuple(found) for name, found in (entry.get("extras") or {}).items()},
                index=Index(
                    index["name"],
                    index["url"],
                    index.get("verify_ssl", True),
                    tuple(canonicalize_name(name) for name in packages),
                )
                if index
                else None,
                guidance=Guidance(guidance["type"], guidance["message"], guidance.get("link", ""))
                if guidance
                else None,
            )
        )
    return tuple(rules)


def shipped_rules() -> tuple[Rule, ...]:
    text = resources.files("bot").joinpath("data/hardware-rules.yaml").read_text("utf-8")
    return parse_rules(yaml.safe_load(text)["rules"])


def merge(shipped: Sequence[Rule], added: Sequence[Rule]) -> tuple[Rule, ...]:
    """The shipped rules, each replaced by an operator's rule of the same id, then the others."""
    by_id = {rule.id: rule for rule in added}
    merged = [by_id.pop(rule.id, rule) for rule in shipped]
    return (*merged, *(rule for rule in added if rule.id in by_id))
