"""The operators' node classes kept true while the bot runs (`node_discovery:` in the
configuration): every `refresh`, where jobs run, the Nodes are listed again and each declared
class's hardware is read off the nodes its `node_selector` picks (its name, its selector, its
builder image and the default class stay the operators'). A class whose nodes are gone (a GPU
pool autoscaled to zero) keeps its last-seen profile for `grace`; after that it is no longer
offered, and a repository that names it gets the usual Problem, which lists the classes there
are. Groups of nodes no class picks are logged. `/metrics` counts the classes and the nodes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.clock import REAL, Clock
from bot.cluster.classes import gpu_model_of
from bot.cluster.nodes import NodeProfile, profile
from handlers.adviser import Hardware, NodeClass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeDiscovery:
    """`node_discovery:` of the configuration."""

    refresh: float = 3600.0
    grace: float = 86400.0  # a class with no node stays offered this long
    kubeconfig: str | None = None  # else the pod's service account


@dataclass
class Refreshed:
    classes: dict[str, NodeClass]
    seen: list[str]  # classes whose nodes were found
    kept: list[str]  # classes without nodes, within the grace period
    gone: list[str]  # classes without nodes past it: no longer offered
    uncovered: list[str] = field(default_factory=list)  # node names no class picks


def refreshed(
    declared: Mapping[str, NodeClass],
    nodes: Sequence[NodeProfile],
    last_seen: dict[str, tuple[float, NodeClass]],
    now: float,
    grace: float,
) -> Refreshed:
    """The declared classes as the nodes show them; `last_seen` (name: when, as what) is
    updated."""
    result = Refreshed({}, [], [], [])
    picked: set[str] = set()
    for name, node_class in declared.items():
        selector = dict(node_class.node_selector)
        members = [
            n for n in nodes if selector and all(n.labels.get(k) == v for k, v in selector.items())
        ]
        if members:
            picked |= {n.name for n in members}
            result.classes[name] = _from_nodes(node_class, members)
            last_seen[name] = (now, result.classes[name])
            result.seen.append(name)
            continue
        when, last = last_seen.setdefault(name, (now, node_class))
        if now - when <= grace:
            result.classes[name] = last  # its last-seen profile
            result.kept.append(name)
        else:
            result.gone.append(name)
    result.uncovered = sorted(n.name for n in nodes if n.name not in picked)
    return result


def _from_nodes(node_class: NodeClass, members: Sequence[NodeProfile]) -> NodeClass:
    """`node_class` with the hardware of the most common kind of node among `members`."""
    kinds: dict[tuple[Any, ...], list[NodeProfile]] = {}
    for node in members:
        kinds.setdefault(node.lock_key(), []).append(node)
    node = max(kinds.values(), key=len)[0]
    hardware = node_class.hardware
    return dataclasses.replace(
        node_class,
        hardware=Hardware(
            cpu_family=node.cpu_family if node.cpu_family is not None else hardware.cpu_family,
            cpu_model=node.cpu_model if node.cpu_model is not None else hardware.cpu_model,
            cpu_flags=node.cpu_flags or hardware.cpu_flags,
            gpu_model=gpu_model_of(node.gpu_product) or hardware.gpu_model,
        ),
        cuda_driver_version=node.cuda_driver_version or node_class.cuda_driver_version,
        compute_capability=node.compute_capability or node_class.compute_capability,
        platform=node.platform,
    )


class NodeClassRefresher:
    """Lists the nodes every `refresh` and hands the classes to `apply`."""

    def __init__(
        self,
        declared: Mapping[str, NodeClass],
        settings: NodeDiscovery,
        apply: Callable[[Mapping[str, NodeClass]], None],
        list_nodes: Callable[[str | None], Awaitable[list[dict[str, Any]]]],
        observe: Callable[[Refreshed, int], None] | None = None,
        clock: Clock = REAL,
    ) -> None:
        self.declared = dict(declared)
        self.settings = settings
        self.apply = apply
        self.list_nodes = list_nodes
        self.observe = observe
        self.clock = clock
        self.last_seen: dict[str, tuple[float, NodeClass]] = {}
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: float | None = None) -> Refreshed:
        now = self.clock.now() if now is None else now
        nodes = [profile(node) for node in await self.list_nodes(self.settings.kubeconfig)]
        result = refreshed(self.declared, nodes, self.last_seen, now, self.settings.grace)
        self.apply(result.classes)
        if self.observe is not None:
            self.observe(result, len(nodes))
        if result.gone:
            log.warning(
                "node classes no node has matched for %.0f s, no longer offered: %s",
                self.settings.grace,
                ", ".join(result.gone),
            )
        if result.uncovered:
            log.warning("nodes no node class picks: %s", ", ".join(result.uncovered))
        return result

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="thoth-bot-node-discovery")

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the classes stay as they were; the next refresh tries again
                log.exception("the cluster's nodes could not be read")
            await asyncio.sleep(self.settings.refresh)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
