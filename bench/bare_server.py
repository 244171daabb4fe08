"""The ceiling for bench/ingest.py: an aiohttp handler that reads the body and answers 202,
verifying nothing and recording nothing.  Run: python bench/bare_server.py PORT"""

from __future__ import annotations

import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"message": "queued"}, status=202)


def main() -> None:
    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.router.add_post("/webhooks/github", accept)
    app.router.add_get("/readyz", lambda _: web.Response(text="ready"))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
