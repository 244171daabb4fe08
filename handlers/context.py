"""What a handler gets to work with: a forge, an adviser and the cluster's policy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from handlers.adviser import Adviser, NodeClass
from handlers.forge import Forge
from handlers.served import NotKept, Served


@dataclass(frozen=True)
class Policy:
    """The operators' decisions that handlers apply to every repository."""

    node_classes: Mapping[str, NodeClass]
    default_node_class: str
    labels: tuple[str, ...] = ("thoth", "dependencies")
    thoth_host: str | None = None  # written into the .s2i hooks for THOTH_ADVISE=1 builds


@dataclass
class Context:
    forge: Forge
    adviser: Adviser
    policy: Policy
    # False while the job layer will run this job again after a retryable failure; on the last
    # attempt, retryable adviser errors are reported to people instead of raised.
    last_attempt: bool = True
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("handlers"))
    served: Served = field(default_factory=NotKept)  # what the bot keeps of each repository


def lock_branch_name(base: str) -> str:
    """The bot's one branch per base branch (SPEC §7.1)."""
    return f"thoth-bot/lock/{base}"
