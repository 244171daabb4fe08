"""The OSV API on 127.0.0.1 (https://google.github.io/osv.dev/api/): `POST /v1/querybatch` and
`GET /v1/vulns/{id}`, serving real advisories (`tests/fixtures/osv/`, whose SOURCES.md says
where each comes from). A test publishes one more with `publish`, or makes the service
unavailable.

    osv = FakeOsv().start()
    osv.publish(record("PYSEC-2023-62"))
    ... THOTH_BOT_OSV_URL=osv.url ...
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from packaging.utils import canonicalize_name

from fakes.server import ThreadedServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "osv"


def record(advisory_id: str) -> dict[str, Any]:
    """A real advisory of the fixtures, as the OSV API answers it."""
    return json.loads((FIXTURES / f"{advisory_id}.json").read_text())


class FakeOsv(ThreadedServer):
    name = "fake-osv"

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.unavailable = False
        self.queries: list[list[dict[str, Any]]] = []  # each querybatch's queries
        self.reads: list[str] = []  # the ids of GET /v1/vulns/{id}
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/v1/querybatch", self._querybatch)
        app.router.add_get("/v1/vulns/{id}", self._vuln)
        super().__init__(app)

    def publish(self, *records: dict[str, Any]) -> None:
        with self._lock:
            for advisory in records:
                self.records[str(advisory["id"])] = advisory

    def _of(self, package: str) -> list[dict[str, Any]]:
        name = canonicalize_name(package)
        return [
            advisory
            for advisory in self.records.values()
            if any(
                (affected.get("package") or {}).get("ecosystem") == "PyPI"
                and canonicalize_name((affected.get("package") or {}).get("name", "")) == name
                for affected in advisory.get("affected") or []
            )
        ]

    async def _querybatch(self, request: web.Request) -> web.Response:
        if self.unavailable:
            return web.json_response({"code": 14, "message": "unavailable (fake)"}, status=503)
        body = await request.json()
        queries = body.get("queries")
        if not isinstance(queries, list) or len(queries) > 1000:
            return web.json_response({"code": 3, "message": "too many queries"}, status=400)
        self.queries.append(queries)
        results = []
        with self._lock:
            for query in queries:
                package = query.get("package") or {}
                if package.get("ecosystem") != "PyPI" or "version" in query:
                    return web.json_response({"code": 3, "message": "unexpected"}, status=400)
                found = self._of(str(package.get("name", "")))
                results.append(
                    {"vulns": [{"id": a["id"], "modified": a["modified"]} for a in found]}
                    if found
                    else {}
                )
        return web.json_response({"results": results})

    async def _vuln(self, request: web.Request) -> web.Response:
        if self.unavailable:
            return web.json_response({"code": 14, "message": "unavailable (fake)"}, status=503)
        advisory_id = request.match_info["id"]
        self.reads.append(advisory_id)
        with self._lock:
            found = self.records.get(advisory_id)
        if found is None:
            return web.json_response({"code": 5, "message": "Bug not found."}, status=404)
        return web.json_response(found)
