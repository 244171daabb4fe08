"""The heart of every reaction: advise each runtime environment and compute the files to write.

Forge-free: it takes the files already read and returns what should change, so the push
handler, the commands, onboarding and `thoth-bot advise PATH` all share it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from handlers import s2i
from handlers.adviser import AdviseError, Adviser, AdviseRequest, Guidance
from handlers.context import Policy
from handlers.forge import FileContent
from handlers.pipfile import parse_pipfile, with_python_version
from handlers.pipfile_lock import VersionChange, parse_lock, render_lock, version_changes
from handlers.problems import Problem
from handlers.repo_config import CONFIG_PATH, RepoConfig, RuntimeEnvironment, load_repo_config
from handlers.requirement_check import refused_requirements

SEVERITY = {"ERROR": 0, "WARNING": 1, "INFO": 2}


class Problems(Exception):
    """Everything that stops a lock, each said with its file, line and fix."""

    def __init__(self, problems: Sequence[Problem]):
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class EnvironmentLock:
    environment: RuntimeEnvironment
    python_version: str
    recommendation_type: str
    lock_text: str
    changes: tuple[VersionChange, ...]
    guidance: tuple[Guidance, ...]  # ERROR first
    backend: str
    changed: bool  # the lock (or the Pipfile) differs from the one the branch holds
    pipfile_text: str | None = None  # the Pipfile, where its [requires] had to change


@dataclass(frozen=True)
class LockPlan:
    locks: tuple[EnvironmentLock, ...]
    files: dict[str, FileContent]  # every file that differs from the branch
    hooks_written: tuple[str, ...] = ()
    hooks_left_alone: tuple[str, ...] = ()
    notes: tuple[Guidance, ...] = ()  # about the repository as a whole
    config_added: bool = False  # the files add a `.thoth.yaml` (onboarding)

    @property
    def advisories_fixed(self) -> tuple[str, ...]:
        """The known vulnerabilities of the current locks that the new ones leave behind."""
        found = [
            advisory
            for lock in self.locks
            if lock.changed
            for change in lock.changes
            if change.why.startswith("fixes ")
            for advisory in change.why.removeprefix("fixes ").split(", ")
        ]
        return tuple(dict.fromkeys(found))


def read_config(files: Mapping[str, FileContent | None], policy: Policy) -> RepoConfig:
    """The repository's runtime environments; raises `Problems`."""
    config_file = files.get(CONFIG_PATH)
    try:
        return load_repo_config(
            config_file.text if config_file else None,
            node_classes=policy.node_classes,
            default_node_class=policy.default_node_class,
        )
    except Problem as problem:
        raise Problems([problem]) from None


def relevant_path(path: str) -> bool:
    """Whether a change to `path` can change what the bot proposes: a Pipfile, a lock,
    `.thoth.yaml` or a hook."""
    name = path.rsplit("/", 1)[-1]
    return (
        path in (CONFIG_PATH, s2i.ASSEMBLE_PATH, s2i.ENVIRONMENT_PATH)
        or name in ("Pipfile", "Pipfile.lock")
    )


def paths_to_read(config: RepoConfig | None = None) -> list[str]:
    """The files a lock needs: configuration, each environment's Pipfile and lock, the hooks."""
    paths = [CONFIG_PATH, "Pipfile", "Pipfile.lock", s2i.ASSEMBLE_PATH, s2i.ENVIRONMENT_PATH]
    for environment in config.environments if config else ():
        for path in (environment.pipfile_path, environment.lock_path):
            if path not in paths:
                paths.append(path)
    return paths


async def plan_locks(
    *,
    adviser: Adviser,
    policy: Policy,
    config: RepoConfig,
    environments: Sequence[RuntimeEnvironment],
    files: Mapping[str, FileContent | None],
    origin: str | None,
    force: bool = False,
    report_retryable: bool = True,
    hooks: bool | None = None,
    recommendation_type: str | None = None,
) -> LockPlan:
    """Advise `environments` and return the files that must change. Raises `Problems`.

    `recommendation_type`: this type for every environment, whatever the configuration says.

    The `.s2i` hooks are planned too when `hooks` (by default, when the repository wants them).
    A retryable adviser error is raised as `AdviseError` unless `report_retryable`.
    """
    outcomes = await asyncio.gather(
        *(
            _lock_environment(
                adviser,
                environment,
                files,
                origin=origin,
                force=force,
                report_retryable=report_retryable,
                recommendation_type=config.recommendation_type or "stable",
                override=recommendation_type,
            )
            for environment in environments
        ),
        return_exceptions=True,
    )
    problems: list[Problem] = []
    for outcome in outcomes:
        if isinstance(outcome, Problem):
            problems.append(outcome)
        elif isinstance(outcome, Problems):
            problems += outcome.problems
        elif isinstance(outcome, BaseException):
            raise outcome
    if problems:
        raise Problems(problems)
    locks = tuple(outcome for outcome in outcomes if isinstance(outcome, EnvironmentLock))
    changed = {
        lock.environment.lock_path: FileContent(lock.lock_text) for lock in locks if lock.changed
    }
    changed |= {
        lock.environment.pipfile_path: FileContent(lock.pipfile_text)
        for lock in locks
        if lock.pipfile_text is not None
    }
    written: tuple[str, ...] = ()
    left_alone: tuple[str, ...] = ()
    wants_hooks = config.hooks if hooks is None else hooks
    if wants_hooks:
        desired = s2i.render_hooks(
            environments=[environment.name for environment in config.environments]
            + list(config.unlocked),
            overlays_dir=config.overlays_dir,
            thoth_host=policy.thoth_host,
        )
        hooks_plan = s2i.plan_hooks({path: files.get(path) for path in desired}, desired)
        changed.update(hooks_plan.write)
        written, left_alone = tuple(hooks_plan.write), tuple(hooks_plan.left_alone)
    return LockPlan(
        locks=locks,
        files=changed,
        hooks_written=written,
        hooks_left_alone=left_alone,
        notes=_repository_notes(config, left_alone),
    )


async def _lock_environment(
    adviser: Adviser,
    environment: RuntimeEnvironment,
    files: Mapping[str, FileContent | None],
    *,
    origin: str | None,
    force: bool,
    report_retryable: bool,
    recommendation_type: str,
    override: str | None = None,
) -> EnvironmentLock:
    pipfile_file = files.get(environment.pipfile_path)
    if pipfile_file is None:
        raise Problem(
            environment.pipfile_path,
            f"runtime environment {environment.name!r} has no Pipfile",
            fix=f"Add {environment.pipfile_path} (for example with `thamos add PACKAGE "
            f"--runtime-environment {environment.name}`), or remove the environment from "
            f"{CONFIG_PATH}.",
        )
    pipfile = parse_pipfile(environment.pipfile_path, pipfile_file.text)
    refused = refused_requirements(pipfile)
    if refused:
        raise Problems(refused)
    node_class = environment.node_class
    # The Python the image runs (SPEC §5.2): the lock is made for it, and the Pipfile's
    # [requires] is made to say it, in the same commit.
    python_version = environment.python_version or node_class.python_version
    asked = pipfile.python_version
    rewritten = asked is not None and asked != python_version
    if rewritten:
        pipfile = parse_pipfile(
            environment.pipfile_path, with_python_version(pipfile.text, python_version)
        )
    recommendation_type = override or environment.recommendation_type or recommendation_type
    existing_file = files.get(environment.lock_path)
    existing_text = existing_file.text if existing_file else ""
    request = AdviseRequest(
        pipfile=pipfile.text,
        pipfile_lock=existing_text,
        environment=environment.name,
        node_class=node_class,
        python_version=python_version,
        recommendation_type=recommendation_type,
        origin=origin,
        force=force,
    )
    try:
        result = await adviser.advise(request)
    except AdviseError as error:
        if error.retryable and not report_retryable:
            raise
        raise Problem(
            environment.pipfile_path,
            f"the {adviser.name} adviser could not lock runtime environment "
            f"{environment.name!r} (node class {node_class.name}): {error}",
            fix=error.fix
            or "Check the Pipfile's packages and versions against the guidance; "
            "a comment `/thoth advise --force` tries again.",
            detail=error.detail,
        ) from None
    rendered = render_lock(result.lock, pipfile)
    notes = []
    if rewritten:
        where = (
            f"its .thoth.yaml entry says Python {python_version}"
            if environment.python_version
            else f"node class {node_class.name}'s image runs Python {python_version}"
        )
        notes.append(
            Guidance(
                "WARNING",
                f"{environment.pipfile_path} asked for Python {asked}, but runtime environment "
                f"{environment.name!r} runs Python {python_version} ({where}): the lock is made "
                f"for Python {python_version}, and `[requires] python_version` is set to "
                f'"{python_version}" in {environment.pipfile_path} with it, because '
                "`pipenv install --deploy` and the .s2i assemble hook refuse a lock made for "
                "another Python.",
            )
        )
    if rendered.hash_corrected:
        notes.append(
            Guidance(
                "INFO",
                f"The {adviser.name} adviser's lock carried a Pipfile hash that pipenv would "
                "reject; thoth-bot set `_meta.hash.sha256` to the hash pipenv computes.",
            )
        )
    guidance = sorted(
        [*notes, *result.justification, *result.stack_info],
        key=lambda entry: SEVERITY.get(entry.type, 3),
    )
    return EnvironmentLock(
        environment=environment,
        python_version=python_version,
        recommendation_type=recommendation_type,
        lock_text=rendered.text,
        changes=tuple(
            _explained(
                version_changes(parse_lock(environment.lock_path, existing_text), rendered.lock),
                result.extra.get("fixes") or {},
            )
        ),
        guidance=tuple(guidance),
        backend=result.backend or adviser.name,
        changed=rendered.text != existing_text or rewritten,
        pipfile_text=pipfile.text if rewritten else None,
    )


def _explained(
    changes: Sequence[VersionChange], fixes: Mapping[str, Sequence[str]]
) -> list[VersionChange]:
    """Each change with why it happened: the advisories the new release fixes (the adviser's
    `fixes`, by canonical name), else a newer or older release, a package added or dropped."""
    explained = []
    for change in changes:
        fixed = fixes.get(canonicalize_name(change.package))
        if fixed:
            why = "fixes " + ", ".join(fixed)
        elif change.old is None:
            why = "newly required"
        elif change.new is None:
            why = "no longer required"
        elif _older(change.new, change.old):
            why = "older release (the recommendation type or a hardware rule)"
        else:
            why = "newer release"
        explained.append(dataclasses.replace(change, why=why))
    return explained


def _older(new: str, old: str) -> bool:
    try:
        return Version(new) < Version(old)
    except InvalidVersion:
        return False


def _repository_notes(config: RepoConfig, left_alone: Sequence[str]) -> tuple[Guidance, ...]:
    notes = []
    if config.unlocked:
        notes.append(
            Guidance(
                "WARNING",
                f"{CONFIG_PATH} declares several runtime environments but no `overlays_dir`: only "
                f"{config.environments[0].name!r} is locked (the root Pipfile.lock); "
                f"{', '.join(config.unlocked)} are not.",
            )
        )
    for path in left_alone:
        notes.append(
            Guidance(
                "WARNING",
                f"{path} was written by hand (it lacks the `# managed by thoth-bot` stamp), so "
                "thoth-bot left it alone; delete it to let the bot manage the build hooks.",
            )
        )
    return tuple(notes)
