"""Node classes from the nodes themselves: nodes that look the same to a lock form one class,
selected by labels that pick exactly its nodes; compared with the operators' classes, whose
names are kept, the drift and the classes no node matches any more are said.

What the nodes cannot say (the s2i builder image: its Python, OS and name) comes from the class
the nodes already belong to, else from the configuration's default class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.cluster.nodes import GFD, NFD, NodeProfile
from handlers.adviser import NodeClass

# Labels that say nothing about a kind of node (one per node, or changing on their own).
VOLATILE = ("kubernetes.io/hostname", GFD + "gfd.timestamp", NFD + "kernel-version.")
# Labels a selector is best made of, first to last.
PREFERRED = (
    GFD + "gpu.product",
    GFD + "cuda.driver-version.full",
    "node.kubernetes.io/instance-type",
    NFD + "cpu-model.vendor_id",
    NFD + "cpu-model.id",
)


@dataclass
class Discovered:
    name: str
    nodes: list[NodeProfile]
    spec: dict[str, Any]
    exact: bool = True  # its node_selector picks exactly its nodes
    declared: bool = False  # the operators' class, name and selector kept
    drift: list[str] = field(default_factory=list)


@dataclass
class Discovery:
    classes: list[Discovered]
    vanished: list[str]  # declared classes no node matches any more
    default_node_class: str
    split: list[str] = field(default_factory=list)  # declared selectors over several kinds
    gone: dict[str, NodeClass] = field(default_factory=dict)  # the vanished classes

    def report(self) -> list[str]:
        lines = []
        for found in self.classes:
            count = f"{len(found.nodes)} node{'s' if len(found.nodes) != 1 else ''}"
            kind = "kept" if found.declared else "new"
            lines.append(f"{found.name}: {count} ({kind})")
            lines += [f"{found.name}: drifted: {change}" for change in found.drift]
            if not found.exact:
                lines.append(
                    f"{found.name}: no node_selector picks exactly its nodes; label them "
                    "(say thoth-bot/node-class) and select on that"
                )
        lines += [f"{name}: no node matches its node_selector any more" for name in self.vanished]
        lines += self.split
        return lines


def discover(
    nodes: Sequence[NodeProfile],
    declared: Mapping[str, NodeClass] | None = None,
    default_node_class: str | None = None,
    base: NodeClass | None = None,
) -> Discovery:
    """Group `nodes` into classes; `declared`: the operators' classes to keep and compare."""
    declared = declared or {}
    groups: dict[tuple[Any, ...], list[NodeProfile]] = {}
    for node in sorted(nodes, key=lambda n: n.name):
        groups.setdefault(node.lock_key(), []).append(node)
    owners: dict[tuple[Any, ...], str] = {}
    vanished, split = [], []
    for name, node_class in declared.items():
        selector = dict(node_class.node_selector)
        picked = [n for n in nodes if selector and _selects(selector, n)]
        if not picked:
            vanished.append(name)
            continue
        keys = {n.lock_key() for n in picked}
        if len(keys) > 1:
            split.append(f"{name}: its node_selector picks {len(keys)} kinds of node")
        key = max(keys, key=lambda k: sum(n.lock_key() == k for n in picked))
        owners.setdefault(key, name)
    names: set[str] = set(declared)
    classes = []
    for key, members in groups.items():
        owner = owners.get(key)
        if owner is not None:
            known = declared[owner]
            spec = _spec(members, known, dict(known.node_selector))
            found = Discovered(owner, members, spec, declared=True, drift=_drift(known, spec))
            found.exact = _exact(dict(known.node_selector), members, nodes)
        else:
            selector, exact = _selector(members, nodes)
            name = _unique(_name(members[0]), names)
            fallback = (declared.get(default_node_class or "") if declared else None) or base
            found = Discovered(name, members, _spec(members, fallback, selector), exact=exact)
        names.add(found.name)
        classes.append(found)
    classes.sort(key=lambda c: (not c.declared, c.name))
    default = default_node_class if default_node_class in {c.name for c in classes} else None
    if default is None:
        cpu = [c for c in classes if not c.nodes[0].gpu_product] or classes
        default = max(cpu, key=lambda c: len(c.nodes)).name if cpu else (default_node_class or "")
    gone = {name: declared[name] for name in sorted(vanished)}
    return Discovery(classes, sorted(vanished), default, split, gone)


def _selects(selector: Mapping[str, str], node: NodeProfile) -> bool:
    return all(node.labels.get(key) == value for key, value in selector.items())


def _exact(
    selector: Mapping[str, str], members: Sequence[NodeProfile], nodes: Sequence[NodeProfile]
) -> bool:
    picked = {n.name for n in nodes if _selects(selector, n)}
    return bool(selector) and picked == {n.name for n in members}


def _selector(
    members: Sequence[NodeProfile], nodes: Sequence[NodeProfile]
) -> tuple[dict[str, str], bool]:
    """Labels every member has alike, few, that leave out every other node: greedily, the label
    that leaves out the most others first (preferred labels win ties)."""
    common = dict(members[0].labels)
    for node in members[1:]:
        common = {k: v for k, v in common.items() if node.labels.get(k) == v}
    candidates = [(k, v) for k, v in common.items() if not k.startswith(VOLATILE)]
    rank = {key: position for position, key in enumerate(PREFERRED)}
    candidates.sort(key=lambda item: (rank.get(item[0], len(PREFERRED)), item[0]))
    selector: dict[str, str] = {}
    inside = {n.name for n in members}
    others = [n for n in nodes if n.name not in inside]
    while others:
        best = min(
            candidates,
            key=lambda item: sum(n.labels.get(item[0]) == item[1] for n in others),
            default=None,
        )
        if best is None:
            break
        left = [n for n in others if n.labels.get(best[0]) == best[1]]
        if len(left) == len(others):
            break
        selector[best[0]] = best[1]
        candidates.remove(best)
        others = left
    if not selector and candidates:
        selector[candidates[0][0]] = candidates[0][1]
    return selector, not others


def _spec(
    members: Sequence[NodeProfile], base: NodeClass | None, selector: Mapping[str, str]
) -> dict[str, Any]:
    node = members[0]
    spec: dict[str, Any] = {
        "hardware": {
            "cpu_family": node.cpu_family,
            "cpu_model": node.cpu_model,
            "cpu_flags": list(node.cpu_flags),
            "gpu_model": gpu_model_of(node.gpu_product),
        }
    }
    if node.gpu_product:
        spec["cuda_version"] = node.cuda_version or (base.cuda_version if base else None)
        spec["cuda_driver_version"] = node.cuda_driver_version
        spec["compute_capability"] = node.compute_capability
        if base is not None and base.cudnn_version:
            spec["cudnn_version"] = base.cudnn_version
    if base is not None:
        spec["operating_system"] = {"name": base.os_name, "version": base.os_version}
        spec["python_version"] = base.python_version
    spec["platform"] = node.platform
    if base is not None and base.base_image:
        spec["base_image"] = base.base_image
    spec["node_selector"] = dict(sorted(selector.items()))
    return spec


def gpu_model_of(product: str | None) -> str | None:
    """GFD's product label has dashes for spaces: "NVIDIA-A100-SXM4-40GB" is nvidia-smi's
    "NVIDIA A100-SXM4-40GB"."""
    if product is None:
        return None
    return "NVIDIA " + product[len("NVIDIA-") :] if product.startswith("NVIDIA-") else product


def _drift(known: NodeClass, spec: Mapping[str, Any]) -> list[str]:
    hardware = spec["hardware"]
    found = []

    def compare(field_name: str, old: Any, new: Any) -> None:
        if old is not None and new is not None and old != new:
            found.append(f"{field_name} {old} -> {new}")

    compare("cpu_family", known.hardware.cpu_family, hardware["cpu_family"])
    compare("cpu_model", known.hardware.cpu_model, hardware["cpu_model"])
    compare("gpu_model", known.hardware.gpu_model, hardware["gpu_model"])
    compare("cuda_driver_version", known.cuda_driver_version, spec.get("cuda_driver_version"))
    compare("compute_capability", known.compute_capability, spec.get("compute_capability"))
    compare("platform", known.platform, spec["platform"])
    lacking = sorted(
        {flag.lower() for flag in known.hardware.cpu_flags} - set(hardware["cpu_flags"])
    )
    if lacking and hardware["cpu_flags"]:
        found.append(f"cpu_flags: the nodes lack {', '.join(lacking)}")
    return found


def _name(node: NodeProfile) -> str:
    if node.gpu_product:
        product = node.gpu_product.lower().removeprefix("nvidia-")
        return "gpu-" + re.sub(r"[^a-z0-9]+", "-", product).strip("-")
    if node.architecture == "amd64" and node.x86_level:
        return f"cpu-x86-64-v{node.x86_level}"
    return f"cpu-{node.platform.removeprefix('linux-').replace('_', '-')}"


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"


def render(discovery: Discovery, rest: Mapping[str, Any] | None = None) -> str:
    """The configuration's text: the classes (each with a comment saying which nodes), then
    the other sections of the configuration as they were."""
    total = sum(len(c.nodes) for c in discovery.classes)
    lines = [
        f"# Node classes of {total} nodes, discovered by `thoth-bot node-classes discover`.",
        f"default_node_class: {discovery.default_node_class}",
        "node_classes:",
    ]
    for found in discovery.classes:
        names = ", ".join(node.name for node in found.nodes)
        lines.append(f"  # {len(found.nodes)} node{'s' if len(found.nodes) != 1 else ''}: {names}")
        if not found.exact:
            lines.append("  # its node_selector does not pick exactly these nodes (see the report)")
        body = yaml.safe_dump(
            {found.name: found.spec}, sort_keys=False, width=100, default_flow_style=None
        )
        lines += ["  " + line for line in body.splitlines()]
    for name, node_class in discovery.gone.items():
        lines.append("  # no node matches its node_selector any more: kept for the repositories")
        lines.append("  # that name it; remove it once none does")
        body = yaml.safe_dump(
            {name: declared_spec(node_class)}, sort_keys=False, width=100, default_flow_style=None
        )
        lines += ["  " + line for line in body.splitlines()]
    text = "\n".join(lines) + "\n"
    if rest:
        text += yaml.safe_dump(dict(rest), sort_keys=False, width=100, default_flow_style=None)
    return text


def declared_spec(node_class: NodeClass) -> dict[str, Any]:
    """A class as the configuration writes it."""
    hardware = node_class.hardware
    spec: dict[str, Any] = {
        "hardware": {
            "cpu_family": hardware.cpu_family,
            "cpu_model": hardware.cpu_model,
            "cpu_flags": list(hardware.cpu_flags),
            "gpu_model": hardware.gpu_model,
        }
    }
    for name in ("cuda_version", "cuda_driver_version", "compute_capability", "cudnn_version"):
        if getattr(node_class, name):
            spec[name] = getattr(node_class, name)
    spec["operating_system"] = {"name": node_class.os_name, "version": node_class.os_version}
    spec["python_version"] = node_class.python_version
    spec["platform"] = node_class.platform
    if node_class.base_image:
        spec["base_image"] = node_class.base_image
    spec["node_selector"] = dict(node_class.node_selector)
    return spec
