"""What people read: the merge request, the guidance comment, the failure issue (SPEC §7.5, §7.6).

Each text starts with a hidden marker so the bot finds its own comment or issue again and edits
it instead of posting another one.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.adviser import Guidance, NodeClass
from handlers.locking import EnvironmentLock, LockPlan
from handlers.problems import Problem

GUIDANCE_MARKER = "<!-- thoth-bot:guidance -->"
LOCK_REQUEST_MARKER = "<!-- thoth-bot:lock-request -->"
FAILURE_MARKER = "<!-- thoth-bot:failure -->"
HUMAN_EDIT_MARKER = "<!-- thoth-bot:human-edit -->"
FAILURE_TITLE = "thoth-bot: cannot lock dependencies"
# Every commit the bot makes on its branch ends with this trailer and the content's digest.
DIGEST_TRAILER = "Thoth-Bot-Digest:"

_ICONS = {"ERROR": "🛑", "WARNING": "⚠️", "INFO": "ℹ️"}  # noqa: RUF001
# GitHub refuses issue, pull request and comment bodies over 65536 characters (GitLab allows
# more); every text is cut to fit, by whole lines, saying so.
MAX_TEXT = 65000


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, or as many of its first lines as fit in `limit` characters with a note."""
    if len(text) <= limit:
        return text
    note = "\n\n… cut here: the full text is over the forge's size limit.\n"
    head = text[: limit - len(note)]
    return head[: head.rfind("\n") + 1 or len(head)].rstrip("\n") + note


def lock_request_title(base: str, *, onboarding: bool = False) -> str:
    if onboarding:
        return f"Set up thoth-bot: lock dependencies for the cluster's hardware ({base})"
    return f"Lock dependencies for the cluster's hardware ({base})"


def commit_message(plan: LockPlan, digest: str) -> str:
    """The bot's commit on its own branch: what it holds, and the digest that marks it."""
    return _commit_message(plan, f"{DIGEST_TRAILER} {digest}")


def _commit_message(plan: LockPlan, footer: str) -> str:
    """Subject naming the environments locked, one `- path` line per file, then `footer`."""
    environments = ", ".join(lock.environment.name for lock in plan.locks if lock.changed)
    subject = f"Lock dependencies for {environments}" if environments else "Refresh the .s2i hooks"
    if plan.config_added:
        subject = "Set up thoth-bot: " + subject[0].lower() + subject[1:]
    lines = [subject, ""]
    lines += [f"- {path}" for path in sorted(plan.files)]
    lines += ["", footer]
    return "\n".join(lines)


def committed_paths(message: str) -> frozenset[str]:
    """The paths a commit made by `commit_message` lists."""
    return frozenset(
        line[2:] for line in message.splitlines() if line.startswith("- ") and len(line) > 2
    )


def lock_request_body(plan: LockPlan, base: str) -> str:
    parts = [
        LOCK_REQUEST_MARKER,
        f"thoth-bot locked the dependencies of `{base}` for the hardware each runtime "
        "environment runs on. Thoth's guidance is in the comment below.",
    ]
    if plan.config_added:
        parts.append(
            "### Configuration\n"
            "Adds `.thoth.yaml`, Thamos's configuration: one runtime environment on the cluster's "
            "default node class. To lock for other hardware, change its `labels.node_class` (the "
            "file lists the node classes) here or after merging."
        )
    for lock in plan.locks:
        parts.append(_environment_section(lock))
    if plan.hooks_written or plan.hooks_left_alone:
        hooks = ["### Build hooks"]
        hooks += [f"- `{path}` written (managed by thoth-bot)" for path in plan.hooks_written]
        hooks += [
            f"- `{path}` left alone: it has no `# managed by thoth-bot` stamp"
            for path in plan.hooks_left_alone
        ]
        parts.append("\n".join(hooks))
    parts.append(
        "<sub>This pull request is rebuilt as one commit on top of "
        f"`{base}` whenever a Pipfile changes there.</sub>"
    )
    return fit("\n\n".join(parts) + "\n")


def _environment_section(lock: EnvironmentLock) -> str:
    environment = lock.environment
    lines = [
        f"### `{environment.name}` on node class `{environment.node_class.name}`",
        profile_line(environment.node_class, lock.python_version),
        "",
        f"`{environment.lock_path}` · recommendation type `{lock.recommendation_type}` · "
        f"adviser `{lock.backend}`",
        "",
    ]
    if not lock.changed:
        lines.append("The lock is already up to date.")
    elif not lock.changes:
        lines.append("Same versions; hashes, indexes or metadata changed.")
    else:
        lines += ["| package | section | from | to |", "|---|---|---|---|"]
        lines += [
            f"| {change.package} | {change.section} | {change.old or '—'} | {change.new or '—'} |"
            for change in lock.changes
        ]
    return "\n".join(lines)


def profile_line(node_class: NodeClass, python_version: str) -> str:
    hardware = node_class.hardware
    items = [hardware.gpu_model or "no GPU"]
    if node_class.cuda_version:
        items.append(f"CUDA {node_class.cuda_version}")
    if node_class.cudnn_version:
        items.append(f"cuDNN {node_class.cudnn_version}")
    if hardware.cpu_flags:
        items.append("CPU " + " ".join(hardware.cpu_flags))
    if node_class.os_name:
        items.append(f"{node_class.os_name} {node_class.os_version or ''}".strip())
    items += [f"Python {python_version}", node_class.platform]
    if node_class.base_image:
        items.append(f"`{node_class.base_image}`")
    return " · ".join(items)


def guidance_comment(plan: LockPlan, heading: str = "Thoth guidance") -> str:
    parts = [GUIDANCE_MARKER, f"## {heading}"]
    if plan.notes:
        parts.append(_entries(plan.notes))
    for lock in plan.locks:
        title = f"### `{lock.environment.name}` on `{lock.environment.node_class.name}`"
        parts.append(title + "\n" + (_entries(lock.guidance) or "No guidance for this stack."))
    return fit("\n\n".join(parts) + "\n")


def merge_request_guidance(plan: LockPlan, sha: str) -> str:
    """The sticky comment on someone's merge request: per environment, what its lock would
    become on its node class, and Thoth's guidance."""
    parts = [
        GUIDANCE_MARKER,
        "## Thoth guidance",
        f"thoth-bot advised {sha[:12]} for the hardware each runtime environment runs on.",
    ]
    if plan.notes:
        parts.append(_entries(plan.notes))
    for lock in plan.locks:
        section = _environment_section(lock).replace(
            "The lock is already up to date.", "The committed lock is up to date."
        )
        parts.append(section + "\n\n" + (_entries(lock.guidance) or "No guidance for this stack."))
    if any(lock.changed for lock in plan.locks):
        parts.append(
            "<sub>Comment `/thoth lock` to commit the refreshed lock(s) to this branch, "
            "`/thoth help` for the other commands.</sub>"
        )
    return fit("\n\n".join(parts) + "\n")


def _entries(entries: Sequence[Guidance]) -> str:
    lines = []
    for entry in entries:
        line = f"- {_ICONS.get(entry.type, '')} **{entry.type}** {entry.message}"
        if entry.link:
            line += f" ([details]({entry.link}))"
        lines.append(line)
    return "\n".join(lines)


def failure_body(problems: Sequence[Problem], *, branch: str, sha: str) -> str:
    lines = [
        FAILURE_MARKER,
        f"thoth-bot could not lock the dependencies of `{branch}` at {sha[:12]}:",
        "",
    ]
    lines += _problem_lines(problems)
    lines += [
        "",
        "This issue is updated on every new failure and closed as soon as a later push "
        f"to `{branch}` locks successfully.",
    ]
    return fit("\n".join(lines) + "\n")


def failure_comment(problems: Sequence[Problem]) -> str:
    """For a pull request's sticky comment: the same facts, no issue boilerplate."""
    lines = [GUIDANCE_MARKER, "## thoth-bot could not lock the dependencies", ""]
    lines += _problem_lines(problems)
    return fit("\n".join(lines) + "\n")


def _problem_lines(problems: Sequence[Problem]) -> list[str]:
    lines = []
    for problem in problems:
        lines.append(f"- **`{problem.where}`**: {problem.message}")
        lines.append(f"  **Fix:** {problem.fix}")
    return lines


def status_description(problems: Sequence[Problem]) -> str:
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{first.where}: {first.message}{more}"


def branch_commit_message(plan: LockPlan, login: str, number: int) -> str:
    """A commit the bot adds to someone's branch on request (no digest: not the bot's branch)."""
    return _commit_message(plan, f"Requested by @{login} in #{number} with a thoth-bot command.")


def refusal(login: str) -> str:
    return (
        f"@{login}, thoth-bot's commands are for people with write access to this repository "
        "(on GitLab: the Developer role or above). A maintainer can run them for you."
    )


def command_reply(login: str, answers: Sequence[tuple[str, str]]) -> str:
    """One reply to a comment's commands: each command as written, then what it did."""
    if len(answers) == 1:
        return fit(f"@{login} {answers[0][1]}\n")
    parts = [f"@{login}"]
    parts += [f"> {line}\n\n{answer}" for line, answer in answers]
    return fit("\n\n".join(parts) + "\n")


def problems_reply(problems: Sequence[Problem]) -> str:
    lines = ["thoth-bot could not lock the dependencies:", ""]
    lines += _problem_lines(problems)
    return "\n".join(lines)


def human_edit_comment(branch: str) -> str:
    return (
        f"{HUMAN_EDIT_MARKER}\nSomeone else pushed to `{branch}`, so thoth-bot no longer rebuilds "
        "this pull request on its own: it never overwrites other people's commits. Comment "
        "`/thoth refresh` to let it rebuild the branch from its base (the other commits on it "
        "are then dropped).\n"
    )


def superseded_comment(branch: str) -> str:
    return (
        f"`{branch}` already holds everything this pull request proposed: the locks and hooks "
        "there are up to date for their Pipfiles. Closing."
    )


def resolved_comment(branch: str, sha: str) -> str:
    return f"Fixed: the dependencies of `{branch}` locked successfully at {sha[:12]}. Closing."
