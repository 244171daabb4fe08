"""Log lines: JSON for machines (one object per line) or text for people; every line says which
delivery, repository and job it is about; no line carries a token, key or secret.

- `configure()` is called once per process (the command line): one handler on the root logger,
  JSON unless stderr is a terminal (`THOTH_BOT_LOG_FORMAT=json|text` decides otherwise).
- `context(delivery=..., repo=..., job=...)` binds those fields to everything logged inside it,
  by this task and the tasks it starts (contextvars).
- Secrets are scrubbed on the way out, whatever logged them: the configured ones (`Bot.start()`
  registers its settings' tokens, keys and webhook secrets with `never_log`), and
  anything shaped like a credential (GitHub and GitLab tokens, JWTs, PEM keys, Bearer/token
  authorization values, passwords in URLs).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import IO

from pythonjsonlogger.json import JsonFormatter

FIELDS = ("delivery", "repo", "job")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("thoth_bot_log_context")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDACTED = "[redacted]"
# Credentials by their shape. Each pattern's first group, when it has one, is kept.
_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*KEY-----|\Z)", re.S),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bgl(?:pat|dt|oas|rt|cbt|ptt|ft|imt|agent|soat|ffct)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"),  # a JWT
    re.compile(r"(?i)(\b(?:bearer|token)\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(
        r"(?i)((?:private[-_]token|authorization|x-gitlab-token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
    ),
    re.compile(r"(://[^/\s:@]*:)[^@\s/]+(?=@)"),  # a password in a URL
]
_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()  # _secrets, sorted once per change, not once per line


def never_log(values: Iterable[str | None]) -> None:
    """Scrub these values (tokens, keys, webhook secrets) from every line from now on."""
    global _longest_first
    for value in values:
        if not value:
            continue
        value = value.strip()
        if len(value) >= 6:  # shorter ones would scrub ordinary words
            _secrets.add(value)
        if "PRIVATE KEY-----" in value:  # and each line of a key, should one be logged alone
            _secrets.update(line for line in value.splitlines() if len(line) >= 16)
    _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


@contextlib.contextmanager
def context(**fields: object) -> Iterator[None]:
    """Log `fields` (delivery, repo, job) with every line logged inside the block."""
    values = {**_context.get({}), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(values)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the bound delivery, repo and job to each record (an explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get({}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RedactFilter(logging.Filter):
    """Scrubs secrets from the message, its arguments, the exception and the context fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        bound = " ".join(
            f"{name}={getattr(record, name)}" for name in FIELDS if hasattr(record, name)
        )
        return f"{line} [{bound}]" if bound else line


def make_handler(stream: IO[str], *, json: bool) -> logging.Handler:
    """A handler that writes `stream` in the bot's format, with context and scrubbing."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "exc_info": "exception",
                },
            )
        )
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure(env: Mapping[str, str] = os.environ) -> None:
    """The process's logging: THOTH_BOT_LOG_LEVEL (INFO) and THOTH_BOT_LOG_FORMAT (json, or
    text when stderr is a terminal)."""
    chosen = (env.get("THOTH_BOT_LOG_FORMAT") or "").lower()
    json = chosen == "json" or (chosen != "text" and not sys.stderr.isatty())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(sys.stderr, json=json))
    level = (env.get("THOTH_BOT_LOG_LEVEL") or "INFO").upper()
    if level not in LEVELS:
        root.setLevel(logging.INFO)
        logging.getLogger("thoth-bot").warning(
            "THOTH_BOT_LOG_LEVEL=%s is not a level (%s): logging at INFO", level, ", ".join(LEVELS)
        )
        return
    root.setLevel(level)
