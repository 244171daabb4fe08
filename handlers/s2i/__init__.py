"""The `.s2i` build hooks the bot writes into repositories (SPEC §9).

`.s2i/bin/assemble` installs exactly the committed lock of one runtime environment (hashes
checked) and hands over to the builder image's own assemble; `.s2i/environment` carries the
settings it reads. Both carry the stamp `# managed by thoth-bot, hooks vN`: the bot rewrites only
stamped files and leaves hand-written ones alone.

Pure code: the templates are read from this package, nothing else is touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from handlers.forge import FileContent

HOOKS_VERSION: int = 1
STAMP_RE = re.compile(r"^# managed by thoth-bot, hooks v(\d+)[ \t]*$")

ASSEMBLE_PATH = ".s2i/bin/assemble"
ENVIRONMENT_PATH = ".s2i/environment"

# Thamos's schema for a runtime environment's name; also what the assemble hook accepts.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# The stamp is looked for in the first lines only (line 1 of environment, line 2 of assemble).
_STAMP_LINES = 3


def stamp(version: int = HOOKS_VERSION) -> str:
    return f"# managed by thoth-bot, hooks v{version}"


@dataclass(frozen=True)
class HooksPlan:
    """What to do with each hook file."""

    write: dict[str, FileContent] = field(default_factory=dict)  # missing or outdated: write
    keep: tuple[str, ...] = ()  # the bot's and up to date (or stamped by a newer bot)
    left_alone: tuple[str, ...] = ()  # hand-written (no stamp): never touched


def render_hooks(
    *, environments: Sequence[str], overlays_dir: str | None, thoth_host: str | None
) -> dict[str, FileContent]:
    """The hook files for a repository.

    `environments` are the runtime environment names in `.thoth.yaml` order (the first is the
    default); `overlays_dir` is `.thoth.yaml`'s, None without overlays (the first environment then
    owns the root Pipfile.lock); `thoth_host` is the Thoth user-API the build may ask
    (`THOTH_ADVISE=1`), as the bot's configuration names it.
    """
    names = list(dict.fromkeys(environments))
    for name in names:
        if not _NAME_RE.match(name):
            raise ValueError(f"not a runtime environment name: {name!r}")
    overlays = (overlays_dir or "").strip().rstrip("/") or None
    if overlays is not None:
        _check_value("overlays_dir", overlays)
    host = thamos_host(thoth_host) if thoth_host else None
    if host is not None:
        _check_value("THOTH_HOST", host)

    settings = []
    if names:
        settings.append(f"THAMOS_RUNTIME_ENVIRONMENT={names[0]}")
    else:
        settings.append("# THAMOS_RUNTIME_ENVIRONMENT: .thoth.yaml declares no runtime environment")
    settings += [
        "THOTH_ADVISE=0",
        "THOTH_DRY_RUN=0",
        "THAMOS_REQUIREMENTS_FORMAT=pipenv",
        "THAMOS_NO_PROGRESSBAR=1",
    ]
    if host is not None:
        settings.append(f"THOTH_HOST={host}")

    layout = []
    if names:
        layout.append(f"THOTH_BOT_ENVIRONMENTS={','.join(names)}")
    if overlays is not None:
        layout.append(f"THOTH_BOT_OVERLAYS_DIR={overlays}")
    elif len(names) > 1:
        layout.append(
            f"# no overlays_dir: only the first runtime environment ({names[0]}) has a committed "
            "lock, the root\n# Pipfile.lock; building another one needs THOTH_ADVISE=1"
        )
    else:
        layout.append(
            "# no overlays_dir: the first runtime environment uses the root Pipfile and "
            "Pipfile.lock"
        )

    if names:
        listing = ", ".join(names) + f" (default {names[0]})"
    else:
        listing = "those of .thoth.yaml"
    environment = _fill(
        "environment",
        STAMP=stamp(),
        ENVIRONMENT_LIST=listing,
        SETTINGS="\n".join(settings),
        LAYOUT="\n".join(layout),
    )
    assemble = _fill("assemble", STAMP=stamp())
    return {
        ASSEMBLE_PATH: FileContent(assemble, executable=True),
        ENVIRONMENT_PATH: FileContent(environment),
    }


def hook_version(text: str) -> int | None:
    """The stamp's version, or None for a file without stamp (written by hand)."""
    for line in text.splitlines()[:_STAMP_LINES]:
        match = STAMP_RE.match(line)
        if match:
            return int(match.group(1))
    return None


def plan_hooks(
    existing: Mapping[str, FileContent | None], desired: Mapping[str, FileContent]
) -> HooksPlan:
    """Decide, per hook file, whether to write it, keep it or leave it alone.

    Written: missing, or stamped and different (older stamp, other content, executable bit).
    Kept: identical, or stamped by a newer version of the bot (never downgraded).
    Left alone: present without stamp, i.e. written by hand.
    """
    write: dict[str, FileContent] = {}
    keep: list[str] = []
    left_alone: list[str] = []
    for path, wanted in desired.items():
        current = existing.get(path)
        if current is None:
            write[path] = wanted
            continue
        version = hook_version(current.text)
        if version is None:
            left_alone.append(path)
        elif current == wanted or version > HOOKS_VERSION:
            keep.append(path)
        else:
            write[path] = wanted
    return HooksPlan(write=write, keep=tuple(keep), left_alone=tuple(left_alone))


def thamos_host(thoth_host: str) -> str:
    """The host thamos wants (it always speaks https and appends /api/v1 itself)."""
    host = thoth_host.strip()
    host = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", host)
    host = host.rstrip("/")
    host = host.removesuffix("/api/v1")
    return host.rstrip("/")


def _check_value(what: str, value: str) -> None:
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"{what} cannot go into .s2i/environment: {value!r}")


@cache
def _template(name: str) -> str:
    return (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8")


def _fill(name: str, **values: str) -> str:
    text = _template(name)
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        raise AssertionError(f"template {name} has an unfilled placeholder")
    return text
