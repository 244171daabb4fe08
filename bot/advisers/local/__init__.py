"""The embedded adviser (`THOTH_BOT_ADVISER=local`, SPEC §8): Thoth's job, on the bot's machine.

`requirements.py` turns a Pipfile into what uv resolves, `platforms.py` a node class into uv's
target, `indexes.py` decides which indexes (and credentials) a resolution may use, `resolve.py`
runs uv for that target (here, or on the resolver pool: `remote.py`), `adviser.py` makes the
Pipfile.lock and the guidance. What touches repository-chosen packages is bounded there:
`uv_process.py` (how uv runs), `egress.py` (its only way out), `sandbox.py` and `relay.py`
(builds, where the operator allows them).
"""

from bot.advisers.local.adviser import LocalAdviser

__all__ = ["LocalAdviser"]
