"""A PBX simulator (``huying cti simulate``): realistic call traffic pushed to a running server's CTI
address, for demos, tests and the benchmark (``bench/cti.py``).

Calls start at ``rate`` a second, at most ``lines`` at once (a call arriving when every line is busy
waits for one, as a queue would). Each call is one of: answered by one of the agents' extensions
(with a recording now and then), a short call, missed (no answer), abandoned in the queue, or busy.
Ring and talk times are drawn from a call centre's usual spread and played ``speed`` times faster;
the events carry the PBX's own timestamps of the simulated times (whole seconds), so the talk time
the server computes must equal the one simulated exactly. A share of events is sent twice, as
PBXs retry, to show they are counted once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass, field

import httpx

# outcome: (weight, what the simulated PBX does)
SCENARIOS = {"answered": 70, "short": 5, "missed": 10, "abandoned": 10, "busy": 5}


@dataclass
class Simulated:
    """What the simulator did, to compare with the server's call log."""

    calls: dict[str, dict] = field(default_factory=dict)  # callId → outcome, talk_seconds, wait_seconds
    latencies: list[float] = field(default_factory=list)  # seconds per event request
    errors: list[str] = field(default_factory=list)
    events: int = 0
    duplicates: int = 0


class Simulator:
    def __init__(self, url: str, token: str, *, extensions: list[str], speed: float = 1.0,
                 duplicates: float = 0.02, recordings: float = 0.3, seed: int | None = None, prefix: str = "sim",
                 recording_url: str = "http://pbx.invalid/recordings/{call_id}.mp3"):
        self.push = f"{url.rstrip('/')}/api/cti/{token}"
        self.extensions = extensions
        self.speed = speed
        self.duplicate_share = duplicates
        self.recording_share = recordings
        self.recording_url = recording_url  # where the PBX keeps a call's recording ({call_id})
        self.random = random.Random(seed)
        self.prefix = prefix
        self.result = Simulated()

    async def run(self, calls: int, rate: float, lines: int = 20, seconds: float | None = None) -> Simulated:
        """``calls`` calls (or as many as start within ``seconds``), ``rate`` a second, ``lines`` at once."""
        free = asyncio.Semaphore(lines)
        limits = httpx.Limits(max_connections=lines * 2, max_keepalive_connections=lines * 2)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            tasks = []
            started = time.monotonic()
            for n in range(calls):
                if seconds is not None and time.monotonic() - started >= seconds:
                    break
                await free.acquire()
                tasks.append(asyncio.create_task(self._call(client, f"{self.prefix}-{n + 1}", free)))
                await asyncio.sleep(self.random.expovariate(rate) if rate > 0 else 0)
            await asyncio.gather(*tasks)
        return self.result

    async def _send(self, client: httpx.AsyncClient, event: dict) -> dict:
        copies = 2 if self.random.random() < self.duplicate_share else 1
        answer: dict = {}
        for copy in range(copies):
            began = time.perf_counter()
            try:
                response = await client.post(self.push, json=event)
            except httpx.HTTPError as exc:
                self.result.errors.append(f"{event['event']} {event['callId']}: {exc!r}")
                return {}
            self.result.latencies.append(time.perf_counter() - began)
            self.result.events += 1
            self.result.duplicates += copy
            if response.status_code != 200:
                self.result.errors.append(f"{event['event']} {event['callId']}: {response.status_code} {response.text[:200]}")
            else:
                answer = response.json()
        return answer

    async def _wait(self, seconds: int) -> None:
        await asyncio.sleep(seconds / self.speed)

    async def _call(self, client: httpx.AsyncClient, call_id: str, free: asyncio.Semaphore) -> None:
        try:
            r = self.random
            outcome = r.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
            caller = f"1{r.choice('3578')}{r.randrange(10 ** 9):09d}"
            base = {"callId": call_id, "from": caller, "to": "12345", "direction": "in", "queue": "12345热线"}
            ringing = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

            def stamp(offset: int) -> str:
                return (ringing + dt.timedelta(seconds=offset)).isoformat()

            await self._send(client, {"event": "newCall", **base, "timestamp": stamp(0)})
            ring = r.randint(2, 25)
            talk = None
            if outcome in ("answered", "short"):
                await self._wait(ring)
                extension = r.choice(self.extensions)
                await self._send(client, {"event": "answer", **base, "answeringNumber": extension, "timestamp": stamp(ring)})
                talk = r.randint(30, 420) if outcome == "answered" else r.randint(1, 9)
                await self._wait(talk)
                if outcome == "answered" and r.random() < self.recording_share:
                    await self._send(client, {"event": "recording", **base,
                                              "url": self.recording_url.format(call_id=call_id)})
                await self._send(client, {"event": "hangup", **base, "cause": "normalClearing",
                                          "timestamp": stamp(ring + talk)})
                wait = ring
            else:
                ring = {"missed": r.randint(30, 60), "abandoned": r.randint(5, 90), "busy": 0}[outcome]
                await self._wait(ring)
                cause = {"missed": "noAnswer", "abandoned": "cancel", "busy": "busy"}[outcome]
                await self._send(client, {"event": "hangup", **base, "cause": cause, "timestamp": stamp(ring)})
                outcome = "missed" if outcome == "busy" else outcome
                wait = ring
            self.result.calls[call_id] = {"outcome": outcome, "talk_seconds": talk, "wait_seconds": wait,
                                          "number": caller}
        finally:
            free.release()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def summary(result: Simulated, wall: float) -> str:
    outcomes: dict[str, int] = {}
    for call in result.calls.values():
        outcomes[call["outcome"]] = outcomes.get(call["outcome"], 0) + 1
    ms = [x * 1000 for x in result.latencies]
    return (f"通话 {len(result.calls)} 通（{', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}），"
            f"事件 {result.events} 个（重发 {result.duplicates}），用时 {wall:.1f} 秒；"
            f"事件接口 p50 {percentile(ms, 0.5):.1f} ms，p95 {percentile(ms, 0.95):.1f} ms；错误 {len(result.errors)} 个")
