"""Standard Webhooks signatures (GitLab's signing tokens): `v1,<base64 HMAC-SHA256>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


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
