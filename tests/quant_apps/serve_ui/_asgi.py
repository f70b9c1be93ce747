"""A small synchronous client over httpx's in-process ASGI transport (no sockets).

Starlette's ``TestClient`` warns about its httpx backend (an error under this project's
``filterwarnings``); this drives the same ASGI app through :class:`httpx.ASGITransport`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class Client:
    """``get``/``post`` like httpx's client, cookies kept between calls, no redirects followed."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url
        self.cookies = httpx.Cookies()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(
            transport=transport, base_url=self.base_url, cookies=self.cookies
        ) as client:
            response = await client.request(method, url, **kwargs)
            self.cookies = client.cookies
            return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET ``url``."""
        return asyncio.run(self._send("GET", url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST ``url``."""
        return asyncio.run(self._send("POST", url, **kwargs))
