"""The Kubernetes API on 127.0.0.1, as far as node discovery reads it: `GET /api/v1/nodes`
(paged with `limit` and `continue`), for a bearer token, serving Node objects a test gives it
(`tests/fixtures/nodes/`, whose SOURCES.md says where their labels come from)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from fakes.server import ThreadedServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nodes"


def pools() -> list[dict[str, Any]]:
    """The fixtures' nodes: three CPU nodes with AVX-512, two A100 (driver 535), two H100
    (driver 570)."""
    return json.loads((FIXTURES / "pools.json").read_text())["items"]


class FakeKubernetes(ThreadedServer):
    name = "fake-kubernetes"

    def __init__(self, nodes: list[dict[str, Any]], token: str = "discovery-token") -> None:
        self.nodes = nodes
        self.token = token
        self.requests: list[str] = []
        app = web.Application()
        app.router.add_get("/api/v1/nodes", self._nodes)
        super().__init__(app)

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "reader", "user": {"token": self.token}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "reader"}}
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    async def _nodes(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401},
                status=401,
            )
        limit = int(request.query.get("limit") or 0) or len(self.nodes)
        start = int(request.query.get("continue") or 0)
        page = self.nodes[start : start + limit]
        more = start + limit < len(self.nodes)
        return web.json_response(
            {
                "apiVersion": "v1",
                "kind": "NodeList",
                "metadata": {
                    "resourceVersion": "184213",
                    **({"continue": str(start + limit)} if more else {}),
                },
                "items": copy.deepcopy(page),
            }
        )
