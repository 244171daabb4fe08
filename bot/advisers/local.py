"""The embedded adviser (`THOTH_BOT_ADVISER=local`, SPEC §8).

Not built yet: until it is, it answers every advise with a clear error that tells the operator
how to use a Thoth deployment instead.
"""

from __future__ import annotations

from handlers.adviser import AdviseError, AdviseRequest, AdviseResult


class LocalAdviser:
    name = "local"

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        raise AdviseError(
            "the embedded adviser is not available in this thoth-bot release; "
            "ask the bot's operators to set THOTH_HOST to a Thoth user-API"
        )
