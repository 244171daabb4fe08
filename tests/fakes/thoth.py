"""A fake Thoth user-API that speaks shared/thoth/user-api-openapi.yaml, and checks you do too.

Every request is validated against the OpenAPI document with openapi-core (path, query,
body); one that does not match is answered 400 with the validation error and recorded in
`violations`. Every answer the fake gives is validated as well, so a green test means both
sides kept to the document.

    thoth = FakeThoth().start()          # its own thread and event loop, on 127.0.0.1
    ... ThothAdviser(session, host=thoth.url) ...
    assert thoth.violations == []
    thoth.stop()

Advises resolve the Pipfile deterministically (`resolve`): every package pinned from a small
catalogue, hashes derived from name, version and hardware, CUDA builds of torch and
tensorflow on GPU runtime environments. Scripted failures, chosen by a package name in the
Pipfile so tests sharing one server do not interfere:

- `thoth-error`: the result (200) has `result.error: true` and an `error_msg` naming it;
- `thoth-bad-request`: the poll answers 400 (AnalysisResponseError);
- `thoth-never-ready`: the poll answers 202 forever;
- `thoth-verbose`: the result carries 3000 justification entries.

Server-wide switches, for tests that start their own instance: `unavailable` (every request
answers 503), `pending_polls` (how many polls answer 202 before the result), `token` (when
set, POST /advise/python without that token answers 401).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import ssl
import threading
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from openapi_core import Config, OpenAPI
from openapi_core.contrib.aiohttp import AIOHTTPOpenAPIWebRequest, AIOHTTPOpenAPIWebResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

from fakes.server import ThreadedServer

SPEC = Path(__file__).resolve().parent.parent / "fixtures" / "thoth" / "user-api-openapi.yaml"
API = "/api/v1"
VERSION_HEADERS = {
    "x-thoth-version": "0.7.0-dev",
    "x-user-api-service-version": "0.7.0-dev+fake",
    "x-thoth-search-ui-url": "https://thoth-station.ninja/search/",
}
LINK = "https://thoth-station.ninja/j"

ERROR_PACKAGE = "thoth-error"
BAD_REQUEST_PACKAGE = "thoth-bad-request"
NEVER_READY_PACKAGE = "thoth-never-ready"
VERBOSE_PACKAGE = "thoth-verbose"

CATALOGUE = {
    "numpy": "1.26.4",
    "scipy": "1.13.1",
    "pandas": "2.2.2",
    "flask": "3.0.3",
    "werkzeug": "3.0.3",
    "jinja2": "3.1.4",
    "click": "8.1.7",
    "requests": "2.32.3",
    "urllib3": "2.2.2",
    "django": "5.0.6",
    "six": "1.16.0",
    "pytest": "8.2.2",
    "black": "24.4.2",
    "tensorflow": "2.16.1",
    "torch": "2.3.1",
    "scikit-learn": "1.5.0",
}
DEFAULT_VERSION = "1.0.0"


@cache
def openapi(spec: Path = SPEC) -> OpenAPI:
    """The user-API document, loaded once per process (the document itself is not re-checked)."""
    return OpenAPI.from_file_path(str(spec), config=Config(spec_validator_cls=None))


@dataclass
class AdviseCall:
    """One `POST /advise/python` as the fake received it."""

    analysis_id: str
    query: dict[str, str]
    body: dict[str, Any]
    polls: int = 0
    pipfile: dict[str, Any] = field(default_factory=dict)

    @property
    def packages(self) -> set[str]:
        return {
            name.lower()
            for section in ("packages", "dev-packages")
            for name in self.pipfile.get(section, {})
        }


class FakeThoth(ThreadedServer):
    name = "fake-thoth"

    def __init__(
        self,
        *,
        pending_polls: int = 1,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.pending_polls = pending_polls
        self.token = token
        self.unavailable = False
        self.requests: list[AdviseCall] = []
        self.violations: list[str] = []
        self._analyses: dict[str, AdviseCall] = {}
        self._lock = threading.Lock()
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(API, self._discovery)
        app.router.add_post(f"{API}/advise/python", self._post_advise)
        app.router.add_get(f"{API}/advise/python/{{analysis_id}}", self._get_advise)
        super().__init__(app, ssl_context=ssl_context)  # .host is "127.0.0.1:PORT" for thamos

    # ---- test-facing API -------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._analyses.clear()
        self.unavailable = False

    def call(self, analysis_id: str) -> AdviseCall:
        """The recorded POST that created `analysis_id`."""
        return self._analyses[analysis_id]

    # ---- validation ------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.unavailable:
            return web.json_response({"error": "Thoth is unavailable (fake)"}, status=503)
        if request.path.rstrip("/") == API:  # API discovery: not part of the document
            return await handler(request)
        body = await request.read()
        openapi_request = AIOHTTPOpenAPIWebRequest(request, body=body or None)
        errors = list(openapi().iter_request_errors(openapi_request))
        if errors:
            error = f"{request.method} {request.path}: " + "; ".join(map(_explain, errors))
            self._violation(error)
            unknown = any(isinstance(e, PathNotFound | OperationNotFound) for e in errors)
            return web.json_response(
                {"error": error, "parameters": dict(request.query)},
                status=404 if unknown else 400,
                headers=VERSION_HEADERS,
            )
        response = await handler(request)
        assert isinstance(response, web.Response)
        answer = AIOHTTPOpenAPIWebResponse(response)
        errors = list(openapi().iter_response_errors(openapi_request, answer))
        if errors:  # the fake's own mistake: make it just as loud
            self._violation(
                f"fake's {response.status} to {request.method} {request.path}: "
                + "; ".join(map(_explain, errors))
            )
        return response

    def _violation(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)

    # ---- handlers --------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "v1"}, headers=VERSION_HEADERS)

    async def _post_advise(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        body = await request.json()
        parameters = {**query, "runtime_environment": body.get("runtime_environment")}
        parameters.pop("token", None)
        given = query.get("token")
        if self.token is not None and given != self.token:
            return web.json_response(
                {"error": "Invalid or missing token, please check your token"},
                status=401,
                headers=VERSION_HEADERS,
            )
        try:
            pipfile = tomllib.loads(body["application_stack"]["requirements"])
        except tomllib.TOMLDecodeError as exc:
            return web.json_response(
                {"error": f"Invalid application stack supplied: {exc}", "parameters": parameters},
                status=400,
                headers=VERSION_HEADERS,
            )
        stamp = datetime.now(UTC).strftime("%y%m%d%H%M%S")
        analysis_id = f"adviser-{stamp}-{secrets.token_hex(8)}"
        call = AdviseCall(analysis_id, query, body, pipfile=pipfile)
        with self._lock:
            self.requests.append(call)
            self._analyses[analysis_id] = call
        return web.json_response(
            {
                "analysis_id": analysis_id,
                "parameters": parameters,
                "cached": False,
                "authenticated": given is not None and (self.token is None or given == self.token),
            },
            status=202,
            headers=VERSION_HEADERS,
        )

    async def _get_advise(self, request: web.Request) -> web.Response:
        analysis_id = request.match_info["analysis_id"]
        call = self._analyses.get(analysis_id)
        parameters = {"analysis_id": analysis_id}
        if call is None:
            return web.json_response(
                {
                    "error": f"Requested adviser {analysis_id!r} was not found",
                    "parameters": parameters,
                },
                status=404,
                headers=VERSION_HEADERS,
            )
        with self._lock:
            call.polls += 1
            polls = call.polls
        if NEVER_READY_PACKAGE in call.packages or polls <= self.pending_polls:
            status = {
                "finished_at": None,
                "reason": None,
                "started_at": _now(),
                "state": "running",
            }
            return web.json_response(
                {"status": status, "parameters": parameters}, status=202, headers=VERSION_HEADERS
            )
        if BAD_REQUEST_PACKAGE in call.packages:
            return web.json_response(
                {
                    "error": f"Adviser run failed: package {BAD_REQUEST_PACKAGE!r} "
                    "made the adviser crash (fake)",
                    "parameters": parameters,
                },
                status=400,
                headers=VERSION_HEADERS,
            )
        return web.json_response(advise_document(call), status=200, headers=VERSION_HEADERS)


# ---- the fake resolution ---------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hardware_description(env: dict[str, Any]) -> str:
    """'NVIDIA A100-SXM4-40GB with CUDA 12.2' or 'CPU family 6 model 85'."""
    hardware = env.get("hardware") or {}
    if hardware.get("gpu_model"):
        text = str(hardware["gpu_model"])
        if env.get("cuda_version"):
            text += f" with CUDA {env['cuda_version']}"
        return text
    if hardware.get("cpu_family") is not None or hardware.get("cpu_model") is not None:
        return f"CPU family {hardware.get('cpu_family')} model {hardware.get('cpu_model')}"
    return "unspecified hardware"


def _hashes(name: str, version: str, env: dict[str, Any]) -> list[str]:
    hardware = json.dumps(env.get("hardware") or {}, sort_keys=True) + str(env.get("cuda_version"))
    return [
        "sha256:" + hashlib.sha256(f"{name}=={version}|{hardware}|{kind}".encode()).hexdigest()
        for kind in ("wheel", "sdist")
    ]


def resolve(pipfile: dict[str, Any], env: dict[str, Any], *, dev: bool) -> dict[str, Any]:
    """A Pipfile.lock for `pipfile` on runtime environment `env`, as Thoth would shape it."""
    sources = [dict(source) for source in pipfile.get("source") or []] or [
        {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}
    ]
    default_index = sources[0]["name"]
    gpu = (env.get("hardware") or {}).get("gpu_model")
    cuda = env.get("cuda_version") if gpu else None
    cuda_tag = "cu" + str(cuda).replace(".", "") if cuda else None

    def pin(name: str, spec: Any) -> tuple[str, dict[str, Any]]:
        version = CATALOGUE.get(name.lower(), DEFAULT_VERSION)
        wanted = spec if isinstance(spec, str) else (spec or {}).get("version", "*")
        if isinstance(wanted, str) and wanted.startswith("=="):
            version = wanted[2:]
        index = (spec.get("index") if isinstance(spec, dict) else None) or default_index
        if name.lower() == "torch" and cuda_tag:
            version, index = f"{version}+{cuda_tag}", f"pytorch-{cuda_tag}"
            if not any(source["name"] == index for source in sources):
                sources.append(
                    {
                        "name": index,
                        "url": f"https://download.pytorch.org/whl/{cuda_tag}",
                        "verify_ssl": True,
                    }
                )
        entry = {"hashes": _hashes(name, version, env), "index": index, "version": f"=={version}"}
        return name.lower(), entry

    default = dict(pin(name, spec) for name, spec in (pipfile.get("packages") or {}).items())
    if cuda and "tensorflow" in default:  # TensorFlow's CUDA build pulls NVIDIA's libraries
        for name, version in (
            ("nvidia-cudnn-cu12", "8.9.7.29"),
            ("nvidia-cublas-cu12", "12.3.4.1"),
        ):
            default[name] = pin(name, f"=={version}")[1]
    develop = {}
    if dev:
        develop = dict(
            pin(name, spec) for name, spec in (pipfile.get("dev-packages") or {}).items()
        )
    requires = dict(pipfile.get("requires") or {})
    if not requires and env.get("python_version"):
        requires = {"python_version": env["python_version"]}
    return {
        "_meta": {
            "hash": {
                "sha256": hashlib.sha256(
                    json.dumps(pipfile, sort_keys=True, default=str).encode()
                ).hexdigest()
            },
            "pipfile-spec": 6,
            "requires": requires,
            "sources": sources,
        },
        "default": dict(sorted(default.items())),
        "develop": dict(sorted(develop.items())),
    }


def guidance(env: dict[str, Any], lock: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """(justification, stack_info) for a resolution, naming the environment and hardware."""
    justification = [
        {
            "type": "INFO",
            "message": f"Resolved for runtime environment '{env.get('name')}' "
            f"on {hardware_description(env)}",
            "link": f"{LINK}/hardware",
        }
    ]
    torch = lock["default"].get("torch")
    if torch and "+cu" in torch["version"]:
        justification.append(
            {
                "type": "INFO",
                "message": f"Using the CUDA {env.get('cuda_version')} build of torch "
                f"({torch['version'][2:]}) for {(env.get('hardware') or {}).get('gpu_model')}",
                "link": f"{LINK}/cuda",
            }
        )
    if VERBOSE_PACKAGE in lock["default"]:
        justification += [
            {"type": "WARNING", "message": f"Observation {i} about this stack", "link": LINK}
            for i in range(3000)
        ]
    system = env.get("operating_system") or {}
    stack_info = [
        {
            "type": "INFO",
            "message": f"Python {env.get('python_version')} on "
            f"{system.get('name') or 'an unknown OS'} {system.get('version') or ''}".rstrip()
            + f" ({env.get('platform') or 'unknown platform'}, {hardware_description(env)})",
            "link": f"{LINK}/runtime_environment",
        }
    ]
    return justification, stack_info


def advise_document(call: AdviseCall) -> dict[str, Any]:
    """The AdviserResultResponse for a finished analysis."""
    env = call.body.get("runtime_environment") or {}
    parameters = {**call.query, "runtime_environment": env}
    parameters.pop("token", None)
    now = datetime.now(UTC)
    metadata = {
        "analyzer": "thoth-adviser",
        "analyzer_version": "0.49.0",
        "arguments": {"thoth-adviser": parameters},
        "datetime": now.isoformat(),
        "distribution": {
            "codename": "Plow",
            "id": "rhel",
            "like": "fedora",
            "version": "9.4",
            "version_parts": {"build_number": "", "major": "9", "minor": "4"},
        },
        "document_id": call.analysis_id,
        "duration": 1,
        "hostname": f"{call.analysis_id}-fake",
        "os_release": {"id": "rhel", "version_id": "9.4"},
        "python": {
            "api_version": 1013,
            "implementation_name": "cpython",
            "major": 3,
            "minor": 11,
            "micro": 9,
            "releaselevel": "final",
            "serial": 0,
        },
        "thoth_deployment_name": "fake-thoth",
        "timestamp": int(time.time()),
    }
    if ERROR_PACKAGE in call.packages:
        message = f"Cannot satisfy direct dependency {ERROR_PACKAGE!r}: no release matches"
        report: dict[str, Any] = {
            "ERROR": message,
            "stack_info": [{"type": "ERROR", "message": message, "link": f"{LINK}/unresolved"}],
        }
        result = {"error": True, "error_msg": message, "parameters": parameters, "report": report}
        return {"metadata": metadata, "result": result}

    lock = resolve(call.pipfile, env, dev=call.query.get("dev") == "true")
    justification, stack_info = guidance(env, lock)
    product = {
        "advised_manifest_changes": [],
        # The document's `nullable` beside `$ref` does not count (OAS 3.0), so no null here.
        "advised_runtime_environment": {},
        "dependency_graph": {"edges": [], "nodes": sorted(lock["default"])},
        "justification": justification,
        "project": {
            "constraints": [],
            "requirements": call.pipfile,
            "requirements_locked": lock,
            "runtime_environment": env,
        },
        "score": 0.0,
    }
    report = {
        "accepted_final_states_count": 1,
        "discarded_final_states_count": 0,
        "pipeline": None,
        "products": [product],
        "resolver_iterations": len(lock["default"]) + 1,
        "stack_info": stack_info,
    }
    result = {"error": False, "error_msg": None, "parameters": parameters, "report": report}
    return {"metadata": metadata, "result": result}


def _explain(exc: BaseException) -> str:
    """openapi-core's error, with the schema errors underneath it (not the whole value)."""
    parts = [str(exc)]
    seen = {id(exc)}
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for error in schema_errors:
                path = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
                parts.append(f"{path or '(value)'}: {getattr(error, 'message', error)}")
        else:
            parts.append(str(cause)[:300])
        cause = cause.__cause__ or cause.__context__
    return ": ".join(part for part in parts if part)
