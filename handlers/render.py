"""What people read: the merge request, the guidance comment, the failure issue (SPEC §7.5, §7.6).

Each text starts with a hidden marker so the bot finds its own comment or issue again and edits
it instead of posting another one.

Whatever a repository controls (names, paths, branches, messages that quote them) is rendered
inert (SPEC §10): names in code spans (`code`), prose through `inert` (no mention that notifies,
no HTML, no link or image it did not already have, no table or heading it could break), and a
tool's own words only as a bounded excerpt in a code block (`quoted`). The forge clients then
scrub secrets from every text they post (`bot/outgoing.py`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import quote

from handlers.adviser import Guidance, NodeClass
from handlers.forge import Words
from handlers.plan import EnvironmentLock, LockPlan
from handlers.problems import Problem

GUIDANCE_MARKER = "<!-- thoth-bot:guidance -->"
CHECKS_MARKER = "<!-- thoth-bot:checks-permission -->"
LOCK_REQUEST_MARKER = "<!-- thoth-bot:lock-request -->"
FAILURE_MARKER = "<!-- thoth-bot:failure -->"
HUMAN_EDIT_MARKER = "<!-- thoth-bot:human-edit -->"
FAILURE_TITLE = "thoth-bot: cannot lock dependencies"
# Every commit the bot makes on its branch ends with this trailer and the content's digest.
DIGEST_TRAILER = "Thoth-Bot-Digest:"

_ICONS = {"ERROR": "🛑", "WARNING": "⚠️", "INFO": "ℹ️"}  # noqa: RUF001
# Every text is cut to fit the forge's body limit (`Words.body_limit`), by whole lines, saying so.
STATUS_LIMIT = 140  # a commit status's description, at most
_SAFE_LINK = re.compile(r"https?://[^\s()<>\[\]`]+")


_MENTION = re.compile(r"([@!#])(?=[\w-])")  # @user, @org/team; GitLab's !1 and #1 references
_LINK = re.compile(r"(?i)\b(https?|ftp|file)://|\bwww\.")
QUOTE_LIMIT = 1500  # characters of a tool's output shown to people


def code(text: str) -> str:
    """`text` as a code span, whatever backticks it holds: shown, never interpreted."""
    line = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {line} " if line.startswith("`") or line.endswith("`") else line
    return f"{fence}{padded}{fence}"


def inert(text: str) -> str:
    """Prose that may hold a repository's words, on one line: it mentions nobody, carries no
    HTML, links nowhere it did not already, and cannot break the table or list around it.
    Code spans are kept as they are: nothing inside one is interpreted."""
    line = " ".join(str(text).split())
    parts = _CODE_SPAN.split(line)
    # split() with two groups: text, fence, span content, text, fence, span content, text...
    out = []
    for position, part in enumerate(parts):
        kind = position % 3
        if kind == 0:
            out.append(_escape(part))
        elif kind == 1:
            out.append(part + parts[position + 1] + part)
    return "".join(out)


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def _escape(text: str) -> str:
    text = html.escape(text, quote=False)
    text = _MENTION.sub("\\1\u200b", text)
    text = _LINK.sub(_unlink, text)
    return re.sub(r"([\[\]|*_~])", r"\\\1", text)


def _unlink(found: re.Match[str]) -> str:
    """`https://` -> `https\u200b://`, `www.` -> `www\u200b.`: not turned into links."""
    word = found[0]
    return word.replace("://", "\u200b://") if "://" in word else word.replace(".", "\u200b.", 1)


def quoted(text: str, limit: int = QUOTE_LIMIT, indent: str = "") -> str:
    """A tool's own words: at most `limit` characters, in a code block nothing escapes."""
    if len(text) > limit:
        text = text[:limit].rsplit("\n", 1)[0] + "\n[… cut]"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [fence + "text", *text.splitlines(), fence]
    return "\n".join(indent + line for line in lines)


def fit(text: str, limit: int) -> str:
    """`text`, or as many of its first lines as fit in `limit` characters with a note."""
    if len(text) <= limit:
        return text
    note = "\n\n… cut here: the full text is over the forge's size limit.\n"
    head = text[: limit - len(note)]
    return head[: head.rfind("\n") + 1 or len(head)].rstrip("\n") + note


def lock_request_title(
    base: str, *, onboarding: bool = False, advisories: Sequence[str] = ()
) -> str:
    if onboarding:
        return f"Set up thoth-bot: lock dependencies for the cluster's hardware ({base})"
    if advisories:
        named = ", ".join(advisories[:3]) + (" and more" if len(advisories) > 3 else "")
        return f"Security update: fix {named} ({base})"
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


def lock_request_body(plan: LockPlan, base: str, words: Words) -> str:
    parts = [
        LOCK_REQUEST_MARKER,
        f"thoth-bot locked the dependencies of {code(base)} for the hardware each runtime "
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
        f"<sub>This {words.merge_request} is rebuilt as one commit on top of "
        f"{code(base)} whenever a Pipfile changes there.</sub>"
    )
    return fit("\n\n".join(parts) + "\n", words.body_limit)


def _environment_section(lock: EnvironmentLock) -> str:
    environment = lock.environment
    lines = [
        f"### {code(environment.name)} on node class {code(environment.node_class.name)}",
        profile_line(environment.node_class, lock.python_version),
        "",
        f"{code(environment.lock_path)} · recommendation type {code(lock.recommendation_type)}"
        f" · adviser {code(lock.backend)}",
        "",
    ]
    if not lock.changed:
        lines.append("The lock is already up to date.")
    elif not lock.changes:
        lines.append("Same versions; hashes, indexes or metadata changed.")
    else:
        lines += ["| package | section | from | to | why |", "|---|---|---|---|---|"]
        lines += [
            f"| {inert(change.package)} | {inert(change.section)} | {inert(change.old or '—')} | "
            f"{inert(change.new or '—')} | {inert(change.why)} |"
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


def guidance_comment(plan: LockPlan, words: Words, heading: str = "Thoth guidance") -> str:
    parts = [GUIDANCE_MARKER, f"## {heading}"]
    if plan.notes:
        parts.append(_entries(plan.notes))
    for lock in plan.locks:
        title = f"### {code(lock.environment.name)} on {code(lock.environment.node_class.name)}"
        parts.append(title + "\n" + (_entries(lock.guidance) or "No guidance for this stack."))
    return fit("\n\n".join(parts) + "\n", words.body_limit)


def merge_request_guidance(plan: LockPlan, sha: str, words: Words) -> str:
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
    return fit("\n\n".join(parts) + "\n", words.body_limit)


def proposal_summary(plan: LockPlan, words: Words) -> str:
    """A branch's report when its merge request was opened or changed: per environment, what
    its lock becomes and the guidance."""
    parts = ["## Thoth guidance"]
    if plan.notes:
        parts.append(_entries(plan.notes))
    for lock in plan.locks:
        parts.append(
            _environment_section(lock)
            + "\n\n"
            + (_entries(lock.guidance) or "No guidance for this stack.")
        )
    return fit("\n\n".join(parts) + "\n", words.body_limit)


def type_preview(plan: LockPlan, sha: str, recommendation_type: str, words: Words) -> str:
    """What `/thoth advise --type T` answers: per environment, the lock type T would make and
    its guidance; the repository's configuration, the guidance comment and the status stay."""
    parts = [
        f"What recommendation type `{recommendation_type}` would lock at {sha[:12]} (this "
        "repository's configuration is unchanged; `/thoth lock` locks with the configured type):"
    ]
    for lock in plan.locks:
        parts.append(
            _environment_section(lock) + "\n\n" + (_entries(lock.guidance) or "No guidance.")
        )
    return fit("\n\n".join(parts) + "\n", words.body_limit)


def _entries(entries: Sequence[Guidance]) -> str:
    lines = []
    for entry in entries:
        kind = entry.type if entry.type in _ICONS else "INFO"
        line = f"- {_ICONS[kind]} **{kind}** {inert(entry.message)}"
        if _SAFE_LINK.fullmatch(entry.link):
            line += f" ([details]({entry.link}))"
        lines.append(line)
    return "\n".join(lines)


def failure_body(
    problems: Sequence[Problem], *, branch: str, sha: str, words: Words, web_url: str = ""
) -> str:
    lines = [
        FAILURE_MARKER,
        f"thoth-bot could not lock the dependencies of {code(branch)} at {code(sha[:12])}:",
        "",
    ]
    lines += _problem_lines(problems, words, web_url, sha)
    lines += [
        "",
        "This issue is updated on every new failure and closed as soon as a later push "
        f"to {code(branch)} locks successfully.",
    ]
    return fit("\n".join(lines) + "\n", words.body_limit)


def unmarked(text: str) -> str:
    """A comment's text without its hidden marker line (a check run's summary)."""
    first, _, rest = text.partition("\n")
    return rest.lstrip("\n") if first.startswith("<!-- thoth-bot:") else text


def checks_notice(words: Words) -> str:
    return (
        f"{CHECKS_MARKER}\nthoth-bot reports on this {words.merge_request} with a commit "
        "status. Granted `checks: write`, it would report in the Checks tab instead, with its "
        "notes on the very lines of the Pipfile they are about; ask the App's owner to accept "
        "the permission.\n"
    )


def failure_comment(
    problems: Sequence[Problem], words: Words, web_url: str = "", sha: str = ""
) -> str:
    """For a merge request's sticky comment: the same facts, no issue boilerplate."""
    lines = [GUIDANCE_MARKER, "## thoth-bot could not lock the dependencies", ""]
    lines += _problem_lines(problems, words, web_url, sha)
    return fit("\n".join(lines) + "\n", words.body_limit)


def _problem_lines(
    problems: Sequence[Problem], words: Words | None = None, web_url: str = "", sha: str = ""
) -> list[str]:
    """Each Problem, its place linked to the line where the forge can link one."""
    lines = []
    for problem in problems:
        where = code(problem.where)
        if words is not None and words.line_url and web_url and sha and problem.line:
            url = words.line_url.format(
                web_url=web_url,
                sha=sha,
                path=quote(problem.path, safe="/"),
                line=problem.line,
            )
            if _SAFE_LINK.fullmatch(url):
                where = f"[{where}]({url})"
        lines.append(f"- **{where}**: {inert(problem.message)}")
        lines.append(f"  **Fix:** {inert(problem.fix)}")
        if problem.detail:
            lines.append(quoted(problem.detail, indent="  "))
    return lines


def status_description(problems: Sequence[Problem]) -> str:
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    text = " ".join(f"{first.where}: {first.message}".split())
    if len(text) + len(more) > STATUS_LIMIT:  # GitHub refuses longer descriptions
        text = text[: STATUS_LIMIT - len(more) - 1] + "…"
    return text + more


def branch_commit_message(plan: LockPlan, login: str, number: int, words: Words) -> str:
    """A commit the bot adds to someone's branch on request (no digest: not the bot's branch)."""
    return _commit_message(
        plan, f"Requested by @{login} in {words.reference(number)} with a thoth-bot command."
    )


def refusal(login: str, words: Words) -> str:
    return (
        f"@{login}, thoth-bot's commands are for people with {words.who_may_command}. "
        "A maintainer can run them for you.\n"
        f"{refusal_marker(login)}\n"
    )


def refusal_marker(login: str) -> str:
    """The hidden marker of the refusal said to `login` (a forge login: no `--` or `>`)."""
    return f"<!-- thoth-bot:refused:{re.sub(r'[^A-Za-z0-9_.-]', '_', login)} -->"


def command_reply(login: str, answers: Sequence[tuple[str, str]], words: Words) -> str:
    """One reply to a comment's commands: each command as written, then what it did."""
    if len(answers) == 1:
        return fit(f"@{login} {answers[0][1]}\n", words.body_limit)
    parts = [f"@{login}"]
    parts += [f"> {inert(line)}\n\n{answer}" for line, answer in answers]
    return fit("\n\n".join(parts) + "\n", words.body_limit)


def problems_reply(problems: Sequence[Problem]) -> str:
    lines = ["thoth-bot could not lock the dependencies:", ""]
    lines += _problem_lines(problems)
    return "\n".join(lines)


def human_edit_comment(branch: str, words: Words) -> str:
    return (
        f"{HUMAN_EDIT_MARKER}\nSomeone else pushed to {code(branch)}, so thoth-bot no longer "
        f"rebuilds this {words.merge_request} on its own: it never overwrites other people's "
        "commits. Comment `/thoth refresh` to let it rebuild the branch from its base (the other "
        "commits on it are then dropped).\n"
    )


def superseded_comment(branch: str, words: Words) -> str:
    return (
        f"{code(branch)} already holds everything this {words.merge_request} proposed: the locks "
        "and hooks there are up to date for their Pipfiles. Closing."
    )


def resolved_comment(branch: str, sha: str) -> str:
    return f"Fixed: the dependencies of {code(branch)} locked successfully at {sha[:12]}. Closing."
