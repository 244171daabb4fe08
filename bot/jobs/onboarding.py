"""Which repositories the bot onboards (SPEC §7.4), on both forges, and the one job each gets.

- GitHub says so: an `installation` or `installation_repositories` delivery names the
  repositories it gives the App, or says "all of them", whose list needs the installation's
  token. The web process records that delivery as it is; its job (`bot.executor`) fans it out
  here into one onboarding job per repository.
- GitLab never says so: the first delivery the bot ever receives from a project is its
  sighting. The hook records that project's onboarding job here, ahead of the delivery's own.

Each repository's onboarding is a job of its own (one repository's jobs run in turn), keyed so
that a redelivery, a retry of the fan-out or another delivery from the project adds nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.github.events import InstallationChange
from bot.jobs import records
from bot.jobs.store import Delivery
from handlers.events import OnboardEvent


async def installation(
    fan_out_key: str,
    change: InstallationChange,
    list_all: Callable[[], Awaitable[Sequence[str]]],
) -> list[Delivery]:
    """One onboarding job per repository a GitHub installation was given (`list_all`: every
    repository it can see, asked only when the delivery did not name them)."""
    names = change.repositories
    if names is None:
        names = tuple(await list_all())
    return [
        records.delivery(
            f"{fan_out_key}:{name}",
            "github",
            OnboardEvent(full_name=name),
            installation=change.installation_id,
        )
        for name in names
    ]


def first_sighting(project_id: int, path: str) -> Delivery:
    """A GitLab project's onboarding job, recorded once: the queue keeps the sighting
    (`first_sighting`), and every later delivery from the project finds it there."""
    return records.delivery(
        f"gitlab:onboard:{project_id}",
        "gitlab",
        OnboardEvent(full_name=path),
        first_sighting=f"gitlab:project:{project_id}",
    )
