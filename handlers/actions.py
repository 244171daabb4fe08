"""The buttons a merge request's report offers (GitHub's check run actions): what `/thoth lock`
and `/thoth advise --force` do, a press away (`check_actions.py` runs them). GitHub takes
labels of 20 characters, descriptions of 40, identifiers of 20."""

from __future__ import annotations

from handlers.forge import Action

ACTIONS = (
    Action("lock", "Lock this PR", "Commit the refreshed lock to this branch"),
    Action("advise-force", "Advise --force", "Advise again, without cached results"),
)
