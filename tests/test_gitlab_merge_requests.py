"""Merge requests and `/thoth` commands in their notes on GitLab (SPEC §6.2, §7.2, §7.3):
`Merge Request Hook` and `Note Hook` deliveries, the same handlers as GitHub's pull requests."""

from __future__ import annotations

import json

import gitlab_payloads
import pytest
from fakes.gitlab import DEVELOPER, GUEST, FakeGitLab, Issue, User
from fakes.thoth import FakeThoth
from gitlab_projects import onboarded_project
from harness import BotUnderTest, pipfile

pytestmark = pytest.mark.usefixtures("fakes")

GUIDANCE_MARKER = "<!-- thoth-bot:guidance -->"


async def advised_merge_request(
    bot: BotUnderTest, gitlab: FakeGitLab, *, access: int = DEVELOPER, discussion: int = 0
) -> tuple[str, Issue, User]:
    """A person's merge request changing the Pipfile, with `discussion` notes of people, advised
    on `open`: (project, MR, person)."""
    path = await onboarded_project(bot, gitlab)
    person = gitlab.add_member(path, f"dev-{access}", access)
    gitlab.push(path, {"Pipfile": pipfile("flask", "numpy")}, branch="add-numpy")
    mr = gitlab.open_merge_request(path, source_branch="add-numpy", author="jsmith")
    for number in range(discussion):
        gitlab.add_note(path, mr.iid, f"looks good {number}", author="jsmith")
    payload = gitlab_payloads.merge_request(gitlab, path, mr.iid, action="open")
    assert (await bot.deliver_gitlab("Merge Request Hook", payload))[0] == 202
    await bot.settle()
    return path, mr, person


async def note(bot: BotUnderTest, gitlab: FakeGitLab, path: str, iid: int, body: str, user: User):
    """A person writes a note on merge request `iid`; the Note Hook goes to the bot."""
    posted = gitlab.add_note(path, iid, body, author=user.username)
    payload = gitlab_payloads.note(gitlab, path, iid, posted.id, body, user)
    status, _ = await bot.deliver_gitlab("Note Hook", payload)
    await bot.settle()
    return status, posted


def replies(gitlab: FakeGitLab, path: str, iid: int) -> list[str]:
    return [
        n.body
        for n in gitlab.notes(path, iid)
        if n.author is gitlab.bot and "<!-- thoth-bot:guidance" not in n.body
    ]


async def test_an_opened_merge_request_gets_one_guidance_note_and_a_status(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    """The guidance note comes after 120 notes of people: the bot finds it again on the second
    page of notes (python-gitlab follows GitLab's Link headers)."""
    path, mr, _ = await advised_merge_request(bot, gitlab, discussion=120)

    [guidance] = [n for n in gitlab.notes(path, mr.iid) if n.author is gitlab.bot]
    first_body = guidance.body
    assert first_body.startswith(GUIDANCE_MARKER)
    head = gitlab.head(path, "add-numpy")
    assert [(s["name"], s["status"]) for s in gitlab.statuses(path, head or "")] == [
        ("thoth-bot/advise", "pending"),
        ("thoth-bot/advise", "success"),
    ]

    # New commits (`update` with `oldrev`): the same note is edited, never repeated.
    gitlab.push(path, {"Pipfile": pipfile("flask", "numpy", "six")}, branch="add-numpy")
    payload = gitlab_payloads.merge_request(gitlab, path, mr.iid, action="update")
    assert (await bot.deliver_gitlab("Merge Request Hook", payload))[0] == 202
    await bot.settle()
    [edited] = [n for n in gitlab.notes(path, mr.iid) if n.author is gitlab.bot]
    assert edited.id == guidance.id and edited.body != first_body
    assert any("/notes?" in c.path and "page=2" in c.path for c in gitlab.calls)
    assert "six" in edited.body


async def test_advise_from_a_developer_gets_an_emoji_an_advise_and_a_reply(
    bot: BotUnderTest, gitlab: FakeGitLab, thoth: FakeThoth
) -> None:
    path, mr, developer = await advised_merge_request(bot, gitlab)
    advises = len(thoth.requests)

    status, posted = await note(bot, gitlab, path, mr.iid, "/thoth advise --force", developer)

    assert status == 202
    assert posted.emoji == [(gitlab.bot.username, "eyes")]
    assert len(thoth.requests) == advises + 1
    [reply] = replies(gitlab, path, mr.iid)
    assert reply.startswith(f"@{developer.username} Advised cpu-x86-64-v3")


async def test_a_guest_is_refused_and_nothing_is_advised(
    bot: BotUnderTest, gitlab: FakeGitLab, thoth: FakeThoth
) -> None:
    path, mr, guest = await advised_merge_request(bot, gitlab, access=GUEST)
    advises = len(thoth.requests)

    _, posted = await note(bot, gitlab, path, mr.iid, "/thoth advise", guest)

    [reply] = replies(gitlab, path, mr.iid)
    assert reply.startswith(
        f"@{guest.username}, thoth-bot's commands are for people with the Developer role or "
        "above in this project."
    )
    assert "Developer" in reply
    assert posted.emoji == []
    assert len(thoth.requests) == advises


async def test_someone_outside_the_project_is_refused(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path, mr, _ = await advised_merge_request(bot, gitlab)
    stranger = gitlab.user("stranger")

    await note(bot, gitlab, path, mr.iid, "/thoth advise", stranger)

    [reply] = replies(gitlab, path, mr.iid)
    assert reply.startswith(
        "@stranger, thoth-bot's commands are for people with the Developer role or above in "
        "this project."
    )


async def test_notes_of_bots_and_of_the_bot_itself_are_never_answered(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path, mr, _ = await advised_merge_request(bot, gitlab)
    token_bot = gitlab.add_member(path, f"project_{gitlab.project(path).id}_bot_5e1f", DEVELOPER)
    mark = len(gitlab.calls)

    status, _ = await note(bot, gitlab, path, mr.iid, "/thoth advise", token_bot)
    assert status == 200  # a project access token's bot user: known from the payload alone
    status, _ = await note(bot, gitlab, path, mr.iid, "/thoth advise", gitlab.bot)
    assert status == 202  # the bot's own user: known once the job asks who the bot is

    assert [call for call in gitlab.calls_since(mark) if call.write] == []
    assert replies(gitlab, path, mr.iid) == ["/thoth advise"]  # the note written as the bot


async def test_lock_commits_the_lock_on_top_of_the_merge_request_branch(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path, mr, developer = await advised_merge_request(bot, gitlab)
    before = gitlab.head(path, "add-numpy")

    await note(bot, gitlab, path, mr.iid, "/thoth lock", developer)

    head = gitlab.commit(path, gitlab.head(path, "add-numpy") or "")
    assert head.parents == (before,)  # one commit on top, nothing force-pushed
    assert f"Requested by @{developer.username} in !{mr.iid} with" in head.message  # GitLab's
    lock = json.loads(gitlab.file(path, "add-numpy", "Pipfile.lock") or "")
    assert sorted(lock["default"]) == ["flask", "numpy"]
    [reply] = replies(gitlab, path, mr.iid)
    assert reply.startswith(f"@{developer.username}")


async def test_a_merge_request_from_a_fork_is_advised_read_only_and_lock_is_declined(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path = await onboarded_project(bot, gitlab)
    developer = gitlab.add_member(path, "maintainer", DEVELOPER)
    fork_path = path.replace("ml-team/", "contributor/")
    fork = gitlab.fork_project(path, fork_path)
    gitlab.push(fork_path, {"Pipfile": pipfile("flask", "six")}, branch="six")
    mr = gitlab.open_merge_request(path, source_branch="six", source_project=fork_path)
    before = dict(fork.refs)

    payload = gitlab_payloads.merge_request(gitlab, path, mr.iid, action="open")
    assert payload["object_attributes"]["source_project_id"] == fork.id
    assert (await bot.deliver_gitlab("Merge Request Hook", payload))[0] == 202
    await bot.settle()
    await note(bot, gitlab, path, mr.iid, "/thoth lock", developer)

    [guidance] = [n for n in gitlab.notes(path, mr.iid) if n.body.startswith(GUIDANCE_MARKER)]
    assert "six" in guidance.body
    head = gitlab.merge_request_head(path, mr.iid) or ""
    assert [s["status"] for s in gitlab.statuses(path, head)] == ["pending", "success"]
    [reply] = replies(gitlab, path, mr.iid)
    assert "lives in a fork, where thoth-bot cannot push" in reply
    assert fork.refs == before  # nothing pushed to the fork


async def test_a_forged_note_is_ignored(
    bot: BotUnderTest, gitlab: FakeGitLab, thoth: FakeThoth
) -> None:
    """Anyone who knows the hook's secret token (every maintainer who added the hook) could
    send a Note Hook "from" a Developer: the bot reads the note back and finds it is not
    theirs, or not what was delivered."""
    path, mr, developer = await advised_merge_request(bot, gitlab)
    attacker = gitlab.user("attacker")
    advises = len(thoth.requests)
    innocent = gitlab.add_note(path, mr.iid, "LGTM", author=attacker.username)
    forgeries = [
        # The attacker's own note, delivered as the Developer's, with a command in it.
        gitlab_payloads.note(gitlab, path, mr.iid, innocent.id, "/thoth lock", developer),
        # A note id that does not exist on this merge request.
        gitlab_payloads.note(gitlab, path, mr.iid, 999_999, "/thoth lock", developer),
    ]
    for payload in forgeries:
        assert (await bot.deliver_gitlab("Note Hook", payload))[0] == 202
    await bot.settle()

    assert len(thoth.requests) == advises
    assert replies(gitlab, path, mr.iid) == []
    assert innocent.emoji == []
    # The Developer's own note still works.
    status, posted = await note(bot, gitlab, path, mr.iid, "/thoth advise", developer)
    assert status == 202 and posted.emoji == [(gitlab.bot.username, "eyes")]


async def test_texts_say_merge_request_in_gitlabs_words(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path, mr, developer = await advised_merge_request(bot, gitlab)

    await note(bot, gitlab, path, mr.iid, "/thoth help\n/thoth refresh", developer)

    [reply] = replies(gitlab, path, mr.iid)
    assert "pull request" not in reply
    assert "advise this merge request's head again" in reply
    assert "`/thoth refresh` rebuilds thoth-bot's own merge request; this one is not." in reply
    assert "Only people with the Developer role or above in this project can run them." in reply
