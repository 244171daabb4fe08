"""`thoth-bot node-classes discover [--kubeconfig FILE] [--config FILE] [--write FILE]`: the
cluster's Nodes grouped into node classes, printed in the configuration's format (or written to
FILE), with a report on stderr: each class and its nodes, what drifted from the configuration,
the classes no node matches any more."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.cluster.classes import discover, render
from bot.cluster.kube import list_nodes
from bot.cluster.nodes import profile
from bot.config import load_settings

KNOWN_SECTIONS = ("default_node_class", "node_classes")


def discover_command(kubeconfig: str | None, config: str | None, write: str | None) -> int:
    """Exit status 0; the configuration to compare with is `config` (or THOTH_BOT_CONFIG)."""
    source = config or os.environ.get("THOTH_BOT_CONFIG")
    settings = load_settings(source)  # the built-in example when there is none
    nodes = [profile(node) for node in asyncio.run(list_nodes(kubeconfig))]
    if source:
        found = discover(nodes, settings.node_classes, settings.default_node_class)
        rest: dict[str, Any] = {
            key: value
            for key, value in (yaml.safe_load(Path(source).read_text()) or {}).items()
            if key not in KNOWN_SECTIONS
        }
    else:  # the builder image of the built-in default class; nothing to compare with
        found = discover(nodes, base=settings.node_classes[settings.default_node_class])
        rest = {}
    text = render(found, rest)
    for line in found.report():
        print(f"thoth-bot: {line}", file=sys.stderr)
    if write:
        Path(write).write_text(text)
        print(f"thoth-bot: wrote {write}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
