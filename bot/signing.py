"""Standard Webhooks signatures (GitLab's signing tokens): `v1,<base64 HMAC-SHA256>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping


def standard_webhook_signature(
    signing_token: str, message_id: str, timestamp: str, body: bytes
) -> str:
    key = base64.b64decode(signing_token.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def standard_webhook_headers(signing_token: str, message_id: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhook_signature(signing_token, message_id, timestamp, body),
    }


def verify_standard_webhook(
    signing_token: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> str | None:
    """What is wrong with a delivery's Standard Webhooks signature, or None when it is good.

    The signature covers `id.timestamp.body`; a timestamp more than `tolerance` seconds away
    from now is refused, so a captured delivery cannot be replayed later.
    """
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not a number"
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return "webhook-timestamp is too far from now"
    expected = standard_webhook_signature(signing_token, message_id, timestamp, body)
    for candidate in signatures.split():  # several, space-separated, while a key rotates
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return None
    return "bad webhook-signature"
