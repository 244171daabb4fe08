"""`/thoth` commands in a comment: one per line, at the line's start, outside quotes and code."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

PREFIX = "/thoth"
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_COMMAND = re.compile(r"^ {0,3}/thoth(?:\s+(?P<rest>.*))?$")


@dataclass(frozen=True)
class Command:
    name: str  # "" when the line is only `/thoth`
    args: tuple[str, ...]
    line: str  # as written, for replies


def parse_commands(body: str) -> list[Command]:
    """Every `/thoth ...` line of a comment, in order.

    Lines inside fenced code blocks (``` or ~~~), quoted lines (`> ...`) and indented code
    (four spaces or more) are not commands: people quote and show commands without running them.
    """
    commands = []
    fence: str | None = None
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        match = _COMMAND.match(line)
        if match is None:
            continue
        try:
            words = shlex.split(match.group("rest") or "")
        except ValueError:
            words = (match.group("rest") or "").split()
        commands.append(
            Command(
                name=words[0].lower() if words else "", args=tuple(words[1:]), line=line.strip()
            )
        )
    return commands
