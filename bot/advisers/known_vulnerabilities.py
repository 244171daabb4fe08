"""Every lock's guidance lists the known vulnerabilities left in it, whatever the backend: the
embedded adviser says them itself (`local/release_policy.py`); a Thoth deployment's answers get
them here, from the same vulnerability data (`osv.py`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.advisers.local.release_policy import Known, Vetting, policy_for
from bot.advisers.osv import Vulnerabilities, VulnerabilitiesUnavailable
from handlers.adviser import Adviser, AdviseRequest, AdviseResult, Guidance
from handlers.pipfile_lock import pinned_versions


class WithKnownVulnerabilities:
    def __init__(self, inner: Adviser, vulnerabilities: Vulnerabilities) -> None:
        self.inner = inner
        self.name = inner.name
        self.vulnerabilities = vulnerabilities

    def __getattr__(self, name: str) -> Any:  # the inner adviser's other attributes
        return getattr(self.inner, name)

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        result = await self.inner.advise(request)
        pins = pinned_versions(result.lock)
        try:
            found = await self.vulnerabilities.advisories(pins, fresh=request.force)
        except VulnerabilitiesUnavailable as error:
            said = [
                Guidance(
                    "WARNING",
                    f"Known vulnerabilities were not checked: {error}. The lock may hold "
                    "releases with known vulnerabilities.",
                )
            ]
        else:
            vetting = Vetting(policy_for("latest", 0.0), {}, 0.0)
            for key in pins:
                vetting.learn(key, Known(key, {}, found.get(key, ())))
            said = vetting.left({key: (key, version) for key, version in pins.items()})
        return dataclasses.replace(result, justification=(*result.justification, *said))
