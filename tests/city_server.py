"""A stand-in for the city 12345 platform: a real HTTP server on loopback that records what it is
sent, can be taken down and brought back on the same port, and answers reconciliation queries."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from litestar import Litestar, Request, post
from litestar.exceptions import HTTPException
from litestar.params import JSONBody


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CityServer:
    def __init__(self):
        self.port = free_port()
        self.received: list[tuple[dict, str]] = []  # (payload, Idempotency-Key), as taken
        self.states: dict[str, str] = {}
        self.fail = False  # answer 503 (up but refusing)
        self.hang = asyncio.Event()  # set: accept the request, record it, never answer
        self.seen_while_hanging: list[str] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/status"

    @property
    def states_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/states"

    def _app(self) -> Litestar:
        @post("/status", status_code=200)
        async def status(request: Request, data: JSONBody[dict]) -> dict:
            key = request.headers.get("idempotency-key", "")
            if self.hang.is_set():
                self.seen_while_hanging.append(key)
                await asyncio.sleep(3600)
            if self.fail:
                raise HTTPException(status_code=503, detail="维护中")
            if key not in {k for _, k in self.received}:  # the city de-duplicates by the key
                self.received.append((data, key))
            return {"ok": True}

        @post("/states", status_code=200)
        async def states(data: JSONBody[dict]) -> dict:
            return {"states": {n: self.states[n] for n in data["numbers"] if n in self.states}}

        return Litestar([status, states])

    async def start(self) -> None:
        self._server = uvicorn.Server(uvicorn.Config(self._app(), host="127.0.0.1", port=self.port,
                                                     log_level="warning"))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await self._task
            self._server = None

    def by_order(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for payload, _ in self.received:
            found.setdefault(payload["external_id"], []).append(payload["action"])
        return found
