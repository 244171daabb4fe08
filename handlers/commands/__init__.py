"""The `/thoth` commands people run in merge request comments (SPEC §7.3).

Each command is a module with `run(ctx, request, command, author) -> str`: what it did, for
the reply. `COMMANDS` maps names to them; `check` says what is wrong with a command's arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.commands import advise, hooks, lock, refresh
from handlers.commands.parse import Command, parse_commands
from handlers.context import Context
from handlers.events import CommentEvent
from handlers.forge import MergeRequest, Words
from handlers.render import code

Run = Callable[[Context, CommentEvent, MergeRequest, Command], Awaitable[str]]

def help_text(words: Words) -> str:
    """The commands, in the forge's words."""
    noun = words.merge_request
    return f"""\
thoth-bot's commands, one per line at the start of a comment line:

| command | |
|---|---|
| `/thoth help` | this text |
| `/thoth advise [ENV...] [--force] [--type TYPE]` | advise this {noun}'s head again (every \
runtime environment, or those named) and refresh the guidance comment; `--force` skips cached \
results; `--type security` (or `latest`, `stable`, `performance`, `testing`) says what that \
recommendation type would lock, and changes nothing |
| `/thoth lock` | commit the refreshed `Pipfile.lock` files to this {noun}'s branch \
(branches of this repository only) |
| `/thoth refresh` | rebuild thoth-bot's own {noun} from its base branch |
| `/thoth hooks` | add or refresh only the `.s2i` build hooks on this {noun}'s branch |

Only people with {words.who_may_command} can run them."""


async def _help(ctx: Context, event: CommentEvent, request: MergeRequest, command: Command) -> str:
    return help_text(ctx.forge.words)


COMMANDS: dict[str, Run] = {
    "help": _help,
    "advise": advise.run,
    "lock": lock.run,
    "refresh": refresh.run,
    "hooks": hooks.run,
}


def check(command: Command) -> str | None:
    """Why `command` cannot run, or None."""
    if command.name not in COMMANDS:
        shown = code(command.line) if command.name else "`/thoth` alone"
        return f"{shown} is not a thoth-bot command."
    if command.name == "advise":
        return advise.check(command.args)
    if command.args:
        return f"`/thoth {command.name}` takes no arguments (got {code(' '.join(command.args))})."
    return None


__all__ = ["COMMANDS", "Command", "check", "help_text", "parse_commands"]
