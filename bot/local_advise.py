"""`thoth-bot advise PATH`: the advise job on a local checkout, no forge (SPEC §3).

It reads the same files, runs the same `handlers.plan.plan_locks` as the merge request job,
prints the guidance and, with `--write`, writes exactly the files the merge request would hold.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bot.advisers.factory import make_adviser
from bot.config import ConfigError, Settings
from handlers import render
from handlers.context import Policy
from handlers.forge import FileContent, Words
from handlers.plan import Problems, paths_to_read, plan_locks, read_config
from handlers.problems import Problem
from handlers.repo_config import CONFIG_PATH

# A terminal is no forge: nothing to cut.
TERMINAL = Words(
    merge_request="merge request",
    reference_prefix="#",
    body_limit=sys.maxsize,
    who_may_command="write access",
)


def read_checkout(root: Path, paths: Sequence[str]) -> dict[str, FileContent | None]:
    files: dict[str, FileContent | None] = {}
    for path in paths:
        target = inside(root, path)
        files[path] = (
            FileContent(
                target.read_text(encoding="utf-8"), executable=bool(target.stat().st_mode & 0o111)
            )
            if target.is_file()
            else None
        )
    return files


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, refused (`Problems`) where it would leave `root`: an absolute path,
    `..`, or a symbolic link on the way (the checkout may be a stranger's)."""
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts:
        raise Problems([_outside(relative, "is not a path inside the checkout")])
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            shown = current.relative_to(root).as_posix()
            raise Problems([_outside(shown, "is a symbolic link")])
    return current


def _outside(path: str, why: str) -> Problem:
    return Problem(
        path,
        f"{why}: thoth-bot reads and writes only regular files inside the checkout",
        fix="Replace the link with the file itself, or remove it.",
    )


def write_file(root: Path, relative: str, content: FileContent) -> None:
    """Write one file of the plan inside `root`: never through a symbolic link."""
    target = inside(root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    inside(root, relative)  # no link appeared among the directories just made
    mode = 0o755 if content.executable else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    with os.fdopen(os.open(target, flags, mode), "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), mode)
        file.write(content.text)


async def advise_checkout(
    settings: Settings,
    path: str,
    *,
    environments: Sequence[str] = (),
    node_class: str | None = None,
    force: bool = False,
    write: bool = False,
) -> int:
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{path} is not a directory. Fix: give the path of a checkout.")
    policy = Policy(
        node_classes=settings.node_classes,
        default_node_class=settings.default_node_class,
        labels=settings.lock_labels,
        thoth_host=settings.thoth_host,
    )
    if node_class is not None and node_class not in settings.node_classes:
        known = ", ".join(sorted(settings.node_classes))
        raise ConfigError(f"unknown node class {node_class!r}. Fix: use one of {known}.")
    try:
        files = read_checkout(root, paths_to_read())
        config = read_config(files, policy)
        files.update(read_checkout(root, [p for p in paths_to_read(config) if p not in files]))
        selected = [
            env for env in config.environments if not environments or env.name in environments
        ]
        unknown = set(environments) - {env.name for env in config.environments}
        if unknown:
            raise ConfigError(
                f"no runtime environment named {', '.join(sorted(unknown))} in {path}"
            )
        if node_class is not None:
            # A checkout without `.thoth.yaml` has one environment, named after its node
            # class: now the chosen one. Those a `.thoth.yaml` names keep their names.
            chosen = settings.node_classes[node_class]
            named = files.get(CONFIG_PATH) is not None
            selected = [
                dataclasses.replace(env, node_class=chosen, name=env.name if named else node_class)
                for env in selected
            ]
        async with aiohttp.ClientSession() as session:
            adviser = make_adviser(settings, session, resolve_here=True)
            try:
                plan = await plan_locks(
                    adviser=adviser,
                    policy=policy,
                    config=config,
                    environments=selected,
                    files=files,
                    origin=None,
                    force=force,
                )
            finally:
                await adviser.close()
    except Problems as failure:
        report(failure)
        return 1
    print(render.guidance_comment(plan, TERMINAL).split("\n", 1)[1])
    if not plan.files:
        print("Everything is up to date.")
    for relative, content in sorted(plan.files.items()):
        if write:
            try:
                write_file(root, relative, content)
            except Problems as failure:
                report(failure)
                return 1
        print(f"{'wrote' if write else 'would write'} {relative}")
    return 0


def report(failure: Problems) -> None:
    for problem in failure.problems:
        print(f"{problem.where}: {problem.message}\n  fix: {problem.fix}", file=sys.stderr)
        if problem.detail:
            print(textwrap.indent(problem.detail, "  | "), file=sys.stderr)
