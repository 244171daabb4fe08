"""The egress proxy's own behaviour under load (the security rules are tested as attacks in
test_untrusted_content.py): a resolution opens dozens of connections at once to a few hosts."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fakes.index import PackageIndex

from bot.advisers.local.egress import Allowlist, EgressProxy


async def test_a_burst_of_connections_looks_each_name_up_once() -> None:
    """A name server that drops part of a burst of lookups costs each dropped one a 5 s retry:
    the proxy asks once per name while the answer is fresh."""
    index = PackageIndex().start()
    index.add_wheel("purelib", "1.0")
    proxy = await EgressProxy().start()
    loop = asyncio.get_running_loop()
    looked_up: list[str] = []
    real = loop.getaddrinfo

    async def counted(host: str, *args: Any, **kwargs: Any) -> Any:  # the event loop's, watched
        looked_up.append(host)
        await asyncio.sleep(0.05)  # a lookup takes a while: the others arrive meanwhile
        return await real(host, *args, **kwargs)

    loop.getaddrinfo = counted  # type: ignore[method-assign]
    url = index.simple_url.replace("127.0.0.1", "localhost") + "/purelib/"
    try:
        with proxy.session(Allowlist.of(["localhost", "127.0.0.1"])) as session:
            async with aiohttp.ClientSession() as http:

                async def fetch() -> int:
                    async with http.get(url, proxy=proxy.url(session)) as response:
                        await response.read()
                        return response.status

                statuses = await asyncio.gather(*(fetch() for _ in range(30)))
    finally:
        loop.getaddrinfo = real  # type: ignore[method-assign]
        await proxy.close()
        index.stop()
    assert statuses == [200] * 30
    assert looked_up == ["localhost"]
