"""The `thoth` advise backend: Thoth's user-API (SPEC §8, shared/thoth/user-api-openapi.yaml).

`POST {base}/advise/python` submits the Pipfile with the node class's profile as the runtime
environment; `GET {base}/advise/python/{analysis_id}` is polled with back-off until it answers
200 (the result) or 400 (the adviser failed). One `ThothAdviser` serves any number of
concurrent advises: all state lives in the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Guidance

log = logging.getLogger(__name__)

API_PATH = "/api/v1"
# People read a retryable failure only once the bot has stopped retrying it.
GAVE_UP = (
    "The bot retried with back-off and has given up on this change: push again, or comment "
    "`/thoth refresh` in its pull request, to try once more."
)
# The only platform the user-API's RuntimeEnvironment schema accepts.
SUPPORTED_PLATFORMS = ("linux-x86_64",)
# Consecutive failed polls (connection error, timeout, 5xx) before giving up for now.
POLL_ATTEMPTS = 3
REQUEST_TIMEOUT = 60.0


def api_base_url(host: str) -> str:
    """`thoth.example.com` -> `https://thoth.example.com/api/v1`; full URLs keep their scheme."""
    base = host.strip().rstrip("/")
    if not base:
        raise ValueError("THOTH_HOST is empty")
    if "://" not in base:
        base = f"https://{base}"
    if not base.endswith(API_PATH):
        base += API_PATH
    return base


def runtime_environment(request: AdviseRequest) -> dict[str, Any]:
    """The RuntimeEnvironment Thoth resolves for: the node class's profile, named after the
    repository's runtime environment. `cpu_flags` and `node_selector` stay in the bot."""
    node = request.node_class
    return {
        "name": request.environment,
        "hardware": {
            "cpu_family": node.hardware.cpu_family,
            "cpu_model": node.hardware.cpu_model,
            "gpu_model": node.hardware.gpu_model,
        },
        "operating_system": {"name": node.os_name, "version": node.os_version},
        "python_version": request.python_version,
        "cuda_version": node.cuda_version,
        "cudnn_version": node.cudnn_version,
        "openblas_version": node.openblas_version,
        "openmpi_version": node.openmpi_version,
        "mkl_version": node.mkl_version,
        "platform": node.platform,
        "base_image": node.base_image,
    }


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


class _Transient(Exception):
    """A failed exchange worth repeating (connection error, timeout, 5xx)."""


class ThothAdviser:
    name = "thoth"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        host: str,
        token: str | None = None,
        timeout: float = 2700,
        first_poll: float = 0.5,
        max_poll: float = 8.0,
    ) -> None:
        self._session = session
        self._base = api_base_url(host)
        self._token = token
        self._timeout = timeout
        self._first_poll = first_poll
        self._max_poll = max_poll
        self.host = self._base.removesuffix(API_PATH)  # how messages name the deployment

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        platform = request.node_class.platform
        if platform and platform not in SUPPORTED_PLATFORMS:
            raise AdviseError(
                f"Thoth at {self.host} only resolves for platform "
                f"{', '.join(SUPPORTED_PLATFORMS)}, but node class '{request.node_class.name}' "
                f"is {platform}: target another node class in .thoth.yaml."
            )
        analysis_id: str | None = None
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                analysis_id = await self._submit(request)
                log.info("Thoth analysis %s submitted for %s", analysis_id, request.environment)
                document = await self._wait(analysis_id)
                return self._result(document, analysis_id)
        except TimeoutError:
            if not deadline.expired():
                raise
            what = f"advise {analysis_id}" if analysis_id else "the advise request"
            raise AdviseError(
                f"Thoth at {self.host} did not answer {what} within "
                f"{_duration(self._timeout)}. {GAVE_UP}",
                retryable=True,
                analysis_id=analysis_id,
            ) from None

    async def _submit(self, request: AdviseRequest) -> str:
        params = {
            "recommendation_type": request.recommendation_type,
            "source_type": "kebechet",
            "force": _flag(request.force),
            "dev": _flag(request.dev),
            "debug": "false",
        }
        if request.origin:
            params["origin"] = request.origin
        if self._token:
            params["token"] = self._token
        body = {
            "application_stack": {
                "requirements": request.pipfile,
                "requirements_lock": request.pipfile_lock or "",
                "requirements_format": "pipenv",
            },
            "runtime_environment": runtime_environment(request),
        }
        try:
            status, data = await self._exchange("POST", "/advise/python", params=params, json=body)
        except _Transient as exc:
            raise AdviseError(
                f"Thoth at {self.host} could not be reached to submit the advise ({exc}). "
                + GAVE_UP,
                retryable=True,
            ) from None
        if status == 202 and isinstance(data, dict) and data.get("analysis_id"):
            return str(data["analysis_id"])
        if status == 401:
            problem = "refused the bot's API token" if self._token else "requires an API token"
            raise AdviseError(
                f"Thoth at {self.host} {problem} (HTTP 401: {_error_text(data)}): "
                "ask the bot's operators to set THOTH_TOKEN to a valid user-API token."
            )
        if status == 400:
            raise AdviseError(
                f"Thoth at {self.host} rejected the advise request: {_error_text(data)}."
            )
        raise AdviseError(
            f"Thoth at {self.host} answered the advise request with HTTP {status} instead of "
            "an analysis id: ask the bot's operators to check that THOTH_HOST is a Thoth "
            "user-API."
        )

    async def _wait(self, analysis_id: str) -> dict[str, Any]:
        delay = self._first_poll
        failures = 0
        while True:
            try:
                status, data = await self._exchange("GET", f"/advise/python/{analysis_id}")
            except _Transient as exc:
                failures += 1
                if failures >= POLL_ATTEMPTS:
                    raise AdviseError(
                        f"Thoth at {self.host} failed {failures} times in a row while the bot "
                        f"waited for advise {analysis_id} ({exc}). {GAVE_UP}",
                        retryable=True,
                        analysis_id=analysis_id,
                    ) from None
                await asyncio.sleep(delay)
                continue
            failures = 0
            if status == 200 and isinstance(data, dict):
                return data
            if status == 202:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_poll)
                continue
            if status == 400:
                raise AdviseError(
                    f"Thoth at {self.host} could not compute advise {analysis_id}: "
                    f"{_error_text(data)}.",
                    analysis_id=analysis_id,
                )
            if status == 404:
                raise AdviseError(
                    f"Thoth at {self.host} lost advise {analysis_id} (HTTP 404); "
                    "the bot will submit it again later.",
                    retryable=True,
                    analysis_id=analysis_id,
                )
            if status == 401:
                raise AdviseError(
                    f"Thoth at {self.host} refused the bot's API token (HTTP 401) while "
                    f"reading advise {analysis_id}: ask the bot's operators to check "
                    "THOTH_TOKEN.",
                    analysis_id=analysis_id,
                )
            raise AdviseError(
                f"Thoth at {self.host} answered HTTP {status} for advise {analysis_id}, "
                "which the user-API does not define: ask the bot's operators to check "
                "THOTH_HOST.",
                analysis_id=analysis_id,
            )

    async def _exchange(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, dict[str, Any] | None]:
        """One HTTP exchange: (status, JSON body or None). Raises `_Transient` on connection
        errors, timeouts, 5xx and 429."""
        try:
            async with self._session.request(
                method,
                self._base + path,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                **kwargs,
            ) as response:
                status = response.status
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = _describe_failure(exc)
            if self._token:  # never let the token out through a message
                reason = reason.replace(self._token, "***")
            raise _Transient(reason) from None
        if status >= 500 or status == 429:
            raise _Transient(f"HTTP {status}")
        try:
            data = json.loads(text) if text else None
        except ValueError:
            if status in (200, 202):
                raise _Transient(f"HTTP {status} with a body that is not JSON") from None
            data = None
        return status, data if isinstance(data, dict) else None

    def _result(self, document: dict[str, Any], analysis_id: str) -> AdviseResult:
        result = document.get("result") or {}
        report = result.get("report") or {}
        if result.get("error"):
            reason = result.get("error_msg") or report.get("ERROR") or "no reason given"
            raise AdviseError(
                f"Thoth at {self.host} could not lock the Pipfile (advise {analysis_id}): "
                f"{str(reason).rstrip('.')}.",
                analysis_id=analysis_id,
            )
        products = report.get("products") or []
        project = products[0].get("project") if products and isinstance(products[0], dict) else None
        lock = project.get("requirements_locked") if isinstance(project, dict) else None
        if not isinstance(lock, dict):
            reason = report.get("ERROR") or "the result holds no Pipfile.lock"
            raise AdviseError(
                f"Thoth at {self.host} returned no lock for advise {analysis_id}: "
                f"{str(reason).rstrip('.')}.",
                analysis_id=analysis_id,
            )
        return AdviseResult(
            lock=lock,
            justification=_guidance(products[0].get("justification")),
            stack_info=_guidance(report.get("stack_info")),
            backend=self.name,
            analysis_id=analysis_id,
            extra={"thoth_host": self.host},
        )


def _guidance(entries: Any) -> tuple[Guidance, ...]:
    if not isinstance(entries, list):
        return ()
    return tuple(Guidance.from_dict(entry) for entry in entries if isinstance(entry, dict))


def _error_text(data: dict[str, Any] | None) -> str:
    error = (data or {}).get("error")
    return str(error).rstrip(".") if error else "no reason given"


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {_duration(REQUEST_TIMEOUT)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    # Connection errors name the host and the OS error; never the URL, which may hold the token.
    return str(exc) or type(exc).__name__
