"""The embedded adviser (`THOTH_BOT_ADVISER=local`, SPEC §8): Thoth's job, on the bot's machine.

`requirements.py` turns a Pipfile into what uv resolves, `platforms.py` a node class into uv's
target, `resolve.py` runs uv for that target, `adviser.py` makes the Pipfile.lock and the
guidance.
"""

from bot.advisers.local.adviser import LocalAdviser

__all__ = ["LocalAdviser"]
