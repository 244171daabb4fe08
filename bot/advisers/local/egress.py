"""The resolver's only way out: an HTTP proxy of the bot's own that enforces the index allow-list
on every connection (SPEC §10).

uv runs with `HTTP_PROXY`/`HTTPS_PROXY` pointing here. Each resolution opens a `Session` whose
token is the proxy's user name, so the proxy knows which resolution a connection belongs to,
what that resolution may reach, and whom to tell what it refused. A connection (a `CONNECT`
for https, an absolute-form request for http) is allowed when:

- its host and port are on the allow-list (`Allowlist`: the operator's `adviser.indexes` and
  the endpoints the operator configured, such as the rules' indexes), and
- the address the host resolves to *now* is a public one, unless the operator listed that
  address (an IP literal or network in the allow-list) or trusts the host as configured.

The proxy connects to the very address it checked (no second DNS lookup to rebind), and every
redirect to another host is a new connection, checked again. On a plain-http connection each
request is read and checked: one for another destination (or session) ends the connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import posixpath
import re
import secrets
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

log = logging.getLogger(__name__)

DEFAULT_INDEXES = ("https://pypi.org/simple", "https://files.pythonhosted.org/packages")
_HEAD_LIMIT = 64 * 1024
_CONNECT_TIMEOUT = 30.0
_PORTS = {"http": 80, "https": 443}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Entry:
    """One allow-list entry: a URL prefix, a host name, or an IP network."""

    text: str
    prefix: str | None = None  # "https://pypi.org/simple/" for a URL entry
    host: str | None = None  # lower-case host (an IP literal too) for URL and host entries
    port: int | None = None  # a URL entry's port; None: any port of the host
    network: Network | None = None  # an address or network the operator lists

    @classmethod
    def parse(cls, text: str) -> Entry:
        text = text.strip()
        with contextlib.suppress(ValueError):
            return cls(text, network=ipaddress.ip_network(text, strict=False))
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme not in _PORTS or not parts.hostname:
                raise ValueError(f"{text!r} is not an http(s) URL")
            if parts.username or parts.password:
                raise ValueError(f"{text!r} carries credentials; give them in adviser.credentials")
            host = parts.hostname.lower()
            prefix = normal_url(text)
            return cls(text, prefix, host, parts.port or _PORTS[parts.scheme], _literal(host))
        if not text or "/" in text or ":" in text:
            raise ValueError(f"{text!r} is neither a URL, a host name nor an IP network")
        return cls(text, host=text.lower(), network=_literal(text.lower()))


def normal_url(url: str) -> str:
    """An index URL as it is compared with prefixes: no user information, the host in lower
    case, dot segments resolved as uv and browsers resolve them (`%2e` too), one trailing
    slash. `https://h/simple/../private` is `https://h/private/`, not under `https://h/simple/`."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    path = re.sub("%2e", ".", parts.path, flags=re.IGNORECASE)
    path = posixpath.normpath(path) if path else "/"
    return f"{parts.scheme}://{host}{path.rstrip('/')}/"


def _literal(host: str) -> Network | None:
    """An IP-literal host is an address the operator listed."""
    try:
        return ipaddress.ip_network(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Allowlist:
    entries: tuple[Entry, ...]
    trusted_hosts: frozenset[str] = frozenset()  # operator-configured endpoints: any address

    @classmethod
    def of(cls, texts: Iterable[str], trusted: Iterable[str] = ()) -> Allowlist:
        """From `adviser.indexes` entries and the URLs of endpoints the operator configured."""
        entries = [Entry.parse(text) for text in texts]
        hosts = set()
        for url in trusted:
            entry = Entry.parse(url)
            entries.append(entry)
            if entry.host:
                hosts.add(entry.host)
        return cls(tuple(entries), frozenset(hosts))

    def allows_url(self, url: str) -> bool:
        """Whether a package index URL (a Pipfile's [[source]]) is on the list."""
        parts = urlsplit(url)
        if parts.scheme not in _PORTS or not parts.hostname:
            return False
        normal = normal_url(url)
        host = parts.hostname.lower()
        for entry in self.entries:
            if entry.prefix is not None and normal.startswith(entry.prefix):
                return True
            if entry.prefix is None and entry.host == host:
                return True
        return self._listed_address(host)

    def allows_host(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        if any(entry.host == host and entry.port in (None, port) for entry in self.entries):
            return True
        return self._listed_address(host)

    def _listed_address(self, host: str) -> bool:
        """An IP-literal host inside a network the operator lists (an entry of its own)."""
        literal = _literal(host.strip("[]"))
        return literal is not None and any(
            entry.host is None
            and entry.network is not None
            and literal.network_address in entry.network
            for entry in self.entries
        )

    def allows_address(self, host: str, address: Address) -> bool:
        if host.lower() in self.trusted_hosts or _public(address):
            return True
        return any(e.network is not None and address in e.network for e in self.entries)


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass
class Session:
    """One resolution's use of the proxy: what it may reach and what it was refused."""

    allowlist: Allowlist
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    refused: list[Refusal] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)  # "host:port" of connections made


@dataclass(frozen=True)
class Refusal:
    host: str
    port: int
    address: str | None  # the address the host resolved to, when that was the reason

    def __str__(self) -> str:
        if self.address:
            return f"{self.host}:{self.port} (it resolves to {self.address}, not a public address)"
        return f"{self.host}:{self.port} (not on the index allow-list)"


class _Names:
    """Host names to addresses, each looked up once while it is fresh (DNS_TTL) and one lookup
    at a time per name: a resolution opens many connections at once to the same few hosts, and
    a burst of lookups can make a name server drop some (each then waits out a 5 s retry)."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, int], tuple[float, list[Address]]] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def addresses(self, host: str, port: int) -> list[Address]:
        key = (host, port)
        loop = asyncio.get_running_loop()
        async with self._locks.setdefault(key, asyncio.Lock()):
            found = self._found.get(key)
            if found is not None and found[0] > loop.time():
                return found[1]
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
            if len(self._found) >= DNS_ENTRIES:
                self._found.clear()
                self._locks = {k: lock for k, lock in self._locks.items() if lock.locked()}
            self._found[key] = (loop.time() + DNS_TTL, addresses)
            return addresses


DNS_TTL = 30.0  # seconds an address found is used for new connections
DNS_ENTRIES = 1024


class EgressProxy:
    """An allow-listing HTTP proxy on 127.0.0.1; start() once, then open a session per run."""

    def __init__(self) -> None:
        self._names = _Names()
        self._sessions: dict[str, Session] = {}
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.socket_path = Path()  # the same proxy on a Unix socket (for the build sandbox)

    async def start(self) -> EgressProxy:
        if not self._servers:
            tcp = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_HEAD_LIMIT)
            self.port = tcp.sockets[0].getsockname()[1]
            self._directory = tempfile.TemporaryDirectory(prefix="thoth-bot-egress-")
            self.socket_path = Path(self._directory.name) / "proxy.sock"
            unix = await asyncio.start_unix_server(
                self._serve, str(self.socket_path), limit=_HEAD_LIMIT
            )
            self._servers = [tcp, unix]
        return self

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    @contextlib.contextmanager
    def session(self, allowlist: Allowlist) -> Iterator[Session]:
        session = Session(allowlist)
        self._sessions[session.token] = session
        try:
            yield session
        finally:
            self._sessions.pop(session.token, None)

    def url(self, session: Session) -> str:
        return f"http://{session.token}:x@127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            await self._handle(head, reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except (ConnectionError, OSError) as error:
            log.debug("egress proxy connection failed: %s", error)
        except asyncio.CancelledError:
            pass  # the loop is shutting down: this connection ends with it
        finally:
            writer.close()

    async def _handle(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        target = rest.rpartition(" ")[0]
        headers = [line for line in header_lines if line]
        session = self._sessions.get(_proxy_user(headers) or "")
        if session is None:
            writer.write(_answer(407, "proxy authentication required"))
            return
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            port = int(port_text) if port_text.isdigit() else 443
        else:
            parts = urlsplit(target)
            if parts.scheme != "http" or not parts.hostname:
                writer.write(_answer(400, "absolute http:// URLs and CONNECT only"))
                return
            host, port = parts.hostname, parts.port or 80
        host = host.strip("[]")
        try:
            upstream = await self._connect(session, host, port)
        except (OSError, TimeoutError) as error:  # not resolved, or not reached: try again
            log.debug("egress proxy cannot reach %s:%s: %s", host, port, error)
            writer.write(_answer(502, "the index could not be reached"))
            return
        if upstream is None:
            writer.write(_answer(403, "refused by thoth-bot's index allow-list"))
            return
        up_reader, up_writer = upstream
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                requests = _pipe(reader, up_writer)
            else:
                requests = _requests(head, reader, up_writer, (host, port), session.token)
            await asyncio.gather(requests, _pipe(up_reader, writer))
        finally:
            up_writer.close()

    async def _connect(
        self, session: Session, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        allowlist = session.allowlist
        if not allowlist.allows_host(host, port):
            session.refused.append(Refusal(host, port, None))
            return None
        literal = _literal(host)
        if literal is not None:  # an address already: nothing to resolve
            addresses: list[Address] = [literal.network_address]
        else:
            addresses = await self._names.addresses(host, port)
        allowed = [address for address in addresses if allowlist.allows_address(host, address)]
        if not allowed:
            session.refused.append(Refusal(host, port, str(addresses[0]) if addresses else None))
            return None
        session.reached.append(f"{host}:{port}")
        async with asyncio.timeout(_CONNECT_TIMEOUT):
            return await asyncio.open_connection(str(allowed[0]), port)


def _proxy_user(headers: list[str]) -> str | None:
    for line in headers:
        name, _, value = line.partition(":")
        if name.strip().lower() == "proxy-authorization":
            scheme, _, encoded = value.strip().partition(" ")
            if scheme.lower() == "basic":
                with contextlib.suppress(ValueError):
                    return base64.b64decode(encoded).decode().partition(":")[0]
    return None


async def _requests(
    head: bytes,
    reader: asyncio.StreamReader,
    upstream: asyncio.StreamWriter,
    destination: tuple[str, int],
    token: str,
) -> None:
    """Plain-http requests of one client connection, in origin form, to the one destination
    that was checked: a request for another host, or of another session, ends the connection
    (the client opens a new one, checked anew). Keep-alive is kept: responses are piped as
    they come."""
    try:
        while True:
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, _, rest = request_line.partition(" ")
            target = rest.rpartition(" ")[0]
            headers = [line for line in header_lines if line]
            parts = urlsplit(target)
            if (
                parts.scheme != "http"
                or ((parts.hostname or "").strip("[]"), parts.port or 80) != destination
                or _proxy_user(headers) != token
                or _header(headers, "transfer-encoding")
            ):
                break
            upstream.write(_origin_form(method, parts, headers))
            length = int(_header(headers, "content-length") or 0)
            if length:
                upstream.write(await reader.readexactly(length))
            await upstream.drain()
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
        pass
    finally:
        if upstream.can_write_eof():
            with contextlib.suppress(OSError):
                upstream.write_eof()


def _header(headers: list[str], wanted: str) -> str | None:
    for line in headers:
        name, _, value = line.partition(":")
        if name.strip().lower() == wanted:
            return value.strip()
    return None


def _origin_form(method: str, parts: SplitResult, headers: list[str]) -> bytes:
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [
        line
        for line in headers
        if line.partition(":")[0].strip().lower() not in ("proxy-authorization", "proxy-connection")
    ]
    return "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "", ""]).encode("latin-1")


def _answer(status: int, reason: str) -> bytes:
    body = reason.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
