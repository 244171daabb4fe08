"""`thoth-bot replay`: send a recorded webhook body to a running bot, signed like the forge."""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import uuid
from pathlib import Path

import aiohttp
import orjson

from bot.signing import standard_webhook_headers


async def replay(
    file: str,
    *,
    event: str,
    forge: str = "github",
    url: str,
    delivery: str | None = None,
    again: bool = False,
) -> int:
    """Send `file` as a delivery. A bot runs a signed body once: `again` sends a copy marked as
    a deliberate replay (a `thoth_bot_replay` key with a new id), signed anew."""
    body = Path(file).read_bytes()
    delivery = delivery or str(uuid.uuid4())
    if again:
        body = orjson.dumps({**orjson.loads(body), "thoth_bot_replay": str(uuid.uuid4())})
    headers = {"Content-Type": "application/json"}
    if forge == "github":
        headers["X-GitHub-Event"] = event
        headers["X-GitHub-Delivery"] = delivery
        secret = os.environ.get("GITHUB_WEBHOOK_SECRET")
        if secret:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        else:
            _unsigned("GITHUB_WEBHOOK_SECRET")
    else:
        headers["X-Gitlab-Event"] = event
        headers["X-Gitlab-Event-UUID"] = delivery
        headers["Idempotency-Key"] = delivery
        if os.environ.get("GITLAB_WEBHOOK_SECRET"):
            headers["X-Gitlab-Token"] = os.environ["GITLAB_WEBHOOK_SECRET"]
        else:
            _unsigned("GITLAB_WEBHOOK_SECRET")
        signing = os.environ.get("GITLAB_WEBHOOK_SIGNING_TOKEN")
        if signing:
            headers.update(standard_webhook_headers(signing, delivery, body))
    target = url.rstrip("/") + f"/webhooks/{forge}"
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(target, data=body, headers=headers) as response:
                text = await response.text()
        except aiohttp.ClientError as error:
            print(f"thoth-bot replay: cannot reach {target}: {error}", file=sys.stderr)
            return 1
    print(f"{response.status} {text}")
    return 0 if response.status < 300 else 1


def _unsigned(variable: str) -> None:
    print(
        f"thoth-bot replay: {variable} is not set, sending the delivery unsigned (a bot that "
        "verifies deliveries will answer 401).",
        file=sys.stderr,
    )
