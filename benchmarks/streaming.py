"""Streaming: time to first partial, and what ``client.stream`` costs over a raw SSE reader.

``python -m benchmarks.streaming [--quick] [--out docs/streaming-benchmark.md]``

The simulator runs in its own process (``benchmarks.simproc``) and streams three
partial images and the final image for every request. Three contenders read the
same streams, one after another on one connection:

- ``raw aiohttp``: POST, iterate the body's lines, ``json.loads`` each ``data:``
  line, base64-decode every image. The floor a hand-written reader reaches.
- ``genguard, no layers``: ``client.stream(prompt)`` on a bare ``Client``.
- ``genguard, default stack``: the same through ``genguard.demo.default_stack``
  (safety, retry, breaker, rate limit, timeout).
- ``generate (no stream)``, with no layers and with the default stack: the
  same clients asking without ``stream``, so the stack's own cost (the same
  for every call) can be told apart from the stream's.

Two measurements per API. **Time to first partial**: wall time from the start
of a call to its first partial image, with the simulator holding the first
event back 20 ms (a paced stream, as a real one is) and with no delay (the
machinery alone). **Overhead per stream**: client CPU seconds
(``time.process_time``, the simulator's process excluded; the mean per round)
and wall time (the median per round) for a whole unpaced stream. The contenders
take turns stream by stream, so a change in the shared machine's load hits all
three alike. Figures are medians over the rounds; ratios are genguard / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from genguard import Client
from genguard.demo import default_stack
from genguard.providers.gemini import GeminiProvider
from genguard.providers.openai import OpenAIProvider
from genguard.streaming import PartialImage, StreamOptions

from .common import fmt_ratio, machine, percentile, table
from .contenders import API_KEY, APIS, GEMINI_MODEL, OPENAI_MODEL, rate_limit_unbound
from .simproc import SimProcess

PARTIALS = 3
PACED_FIRST_EVENT = 0.02

#: (streams per round, rounds) for a full and a quick run.
SIZES = {"full": (300, 5), "quick": (60, 3), "smoke": (8, 1)}

# -- the contenders ---------------------------------------------------------------------------

Stream = Callable[[str], Awaitable[float | None]]  # one stream -> seconds to first partial


def _request(api: str, base_url: str, prompt: str) -> tuple[str, dict[str, str], bytes]:
    if api == "gemini":
        url = f"{base_url}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse"
        headers = {"x-goog-api-key": API_KEY, "content-type": "application/json"}
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
        }
    else:
        url = f"{base_url}/v1/images/generations"
        headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
        body = {
            "model": OPENAI_MODEL,
            "prompt": prompt,
            "n": 1,
            "stream": True,
            "partial_images": PARTIALS,
        }
    return url, headers, json.dumps(body).encode()


class RawReader:
    """A hand-written SSE reader: lines, ``data:``, JSON, base64. No timers, no retries."""

    name = "raw aiohttp"

    def __init__(self, api: str, base_url: str) -> None:
        self.api = api
        self.base_url = base_url
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def stream(self, prompt: str) -> float | None:
        assert self.session is not None
        started = time.perf_counter()
        first: float | None = None
        done = False
        url, headers, body = _request(self.api, self.base_url, prompt)
        async with self.session.post(url, headers=headers, data=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            async for line in resp.content:
                if not line.startswith(b"data:"):
                    continue
                data = json.loads(line[5:])
                for b64, partial, final in _images(self.api, data):
                    base64.b64decode(b64)
                    if partial and first is None:
                        first = time.perf_counter() - started
                    done = done or final
        if not done:
            raise RuntimeError("the stream ended without its image")
        return first


def _images(api: str, data: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    """(base64, is a partial, is the final image) of every image in one event."""
    if api == "openai":
        kind = data.get("type", "")
        return [(data["b64_json"], kind.endswith("partial_image"), kind.endswith("completed"))]
    out = []
    for candidate in data.get("candidates", ()):
        for part in candidate.get("content", {}).get("parts", ()):
            inline = part.get("inlineData")
            if inline is not None:
                thought = bool(part.get("thought"))
                out.append((inline["data"], thought, not thought))
    return out


class GenguardReader:
    """``client.stream`` on a Gemini or OpenAI provider, with or without the default stack."""

    def __init__(self, api: str, base_url: str, *, layers: bool) -> None:
        self.api = api
        self.name = "genguard, default stack" if layers else "genguard, no layers"
        provider: GeminiProvider | OpenAIProvider
        if api == "gemini":
            provider = GeminiProvider(API_KEY, base_url=base_url, model=GEMINI_MODEL)
        else:
            provider = OpenAIProvider(API_KEY, base_url=base_url, model=OPENAI_MODEL)
        stack = rate_limit_unbound(default_stack()) if layers else []
        self.client = Client(provider, stack, deadline=30.0)
        self.options = StreamOptions(partial_images=PARTIALS)

    async def open(self) -> None:
        await self.client.transport.open()

    async def close(self) -> None:
        await self.client.aclose()

    async def stream(self, prompt: str) -> float | None:
        started = time.perf_counter()
        first: float | None = None
        async with self.client.stream(prompt, settings=self.options) as stream:
            async for event in stream:
                if first is None and isinstance(event, PartialImage):
                    first = time.perf_counter() - started
        if stream.result is None:
            raise RuntimeError("no result")
        return first


class GenerateReader(GenguardReader):
    """``client.generate`` on the same client (no stream): what the layers cost a call
    that does not stream, for telling the stack's cost from the stream's."""

    def __init__(self, api: str, base_url: str, *, layers: bool) -> None:
        super().__init__(api, base_url, layers=layers)
        self.name = "generate (no stream), " + ("default stack" if layers else "no layers")

    async def stream(self, prompt: str) -> float | None:
        await self.client.generate(prompt)
        return None


# -- measuring --------------------------------------------------------------------------------


async def _one(reader: Any, prompt: str) -> tuple[float, float, float | None]:
    """One stream: client CPU seconds, wall seconds, seconds to the first partial."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    first = await reader.stream(prompt)
    return time.process_time() - cpu0, time.perf_counter() - wall0, first


async def _measure(
    api: str, url: str, count: int, rounds: int, *, with_generate: bool = False
) -> dict[str, dict[str, Any]]:
    """``rounds`` x ``count`` streams per contender, the contenders taking turns stream by
    stream, so a change in the machine's load hits all of them alike."""
    readers: list[Any] = [
        RawReader(api, url),
        GenguardReader(api, url, layers=False),
        GenguardReader(api, url, layers=True),
    ]
    if with_generate:
        readers += [GenerateReader(api, url, layers=False), GenerateReader(api, url, layers=True)]
    results: dict[str, dict[str, Any]] = {
        r.name: {"cpu": [], "wall": [], "firsts": []} for r in readers
    }
    for reader in readers:
        await reader.open()
    try:
        for i in range(max(2, count // 10)):  # warm-up: connections, imports, caches
            for reader in readers:
                await _one(reader, f"a lighthouse at dusk, warm {i}")
        for r in range(rounds):
            gc.collect()
            cpu: dict[str, list[float]] = {reader.name: [] for reader in readers}
            wall: dict[str, list[float]] = {reader.name: [] for reader in readers}
            for i in range(count):
                for reader in readers:
                    used, took, first = await _one(reader, f"a lighthouse at dusk, r{r} {i}")
                    cpu[reader.name].append(used)
                    wall[reader.name].append(took)
                    if first is not None:
                        results[reader.name]["firsts"].append(first)
            for reader in readers:  # per round: the mean (CPU adds up), then medians of rounds
                row = results[reader.name]
                row["cpu"].append(statistics.fmean(cpu[reader.name]))
                row["wall"].append(statistics.median(wall[reader.name]))
    finally:
        for reader in readers:
            await reader.close()
    return results


def _us(seconds: float) -> float:
    return seconds * 1e6


def _ms(seconds: float) -> float:
    return seconds * 1e3


async def run(size: str) -> tuple[str, dict[str, Any]]:
    count, rounds = SIZES[size]
    data: dict[str, Any] = {"size": size, "streams_per_round": count, "rounds": rounds}
    async with SimProcess() as sim:
        plans = {
            "unpaced": {"partials": PARTIALS},
            "paced": {"partials": PARTIALS, "first_event": PACED_FIRST_EVENT},
        }
        urls = {}
        for name, plan in plans.items():
            ((_, url),) = await sim.start("clean", record=False, stream=plan)
            urls[name] = url
        for api in APIS:
            data[api] = {
                "unpaced": await _measure(api, urls["unpaced"], count, rounds, with_generate=True),
                "paced": await _measure(api, urls["paced"], max(10, count // 3), rounds),
            }
    return render(data), data


def render(data: dict[str, Any]) -> str:
    info = machine()
    out = [
        "# Streaming benchmark",
        "",
        "Generated by `python -m benchmarks.streaming --out docs/streaming-benchmark.md`; do "
        "not edit by hand. Method: see the module docstring of `benchmarks/streaming.py`.",
        "",
        table(
            ["", ""],
            [
                ["date", info["date"]],
                ["CPU", info["cpu"]],
                ["cores", info["cores"]],
                ["Python", info["python"]],
                ["packages", info["packages"]],
                [
                    "run",
                    f"{data['size']}: {data['streams_per_round']} streams x {data['rounds']} "
                    f"rounds per contender and API, {PARTIALS} partials + the image each",
                ],
            ],
        ),
        "",
        "The simulator runs in a separate process on the same (shared) machine, so CPU "
        "figures are the client's own; wall times include the simulator's work.",
        "",
    ]
    for api in APIS:
        unpaced = data[api]["unpaced"]
        raw = unpaced["raw aiohttp"]
        raw_cpu = statistics.median(raw["cpu"])
        raw_wall = statistics.median(raw["wall"])
        rows = []
        for name, row in unpaced.items():
            cpu = statistics.median(row["cpu"])
            wall = statistics.median(row["wall"])
            rows.append(
                [
                    name,
                    _us(cpu),
                    fmt_ratio(cpu / raw_cpu),
                    _us(cpu - raw_cpu),
                    _ms(wall),
                    fmt_ratio(wall / raw_wall),
                ]
            )
        out += [
            f"## {api}: overhead per stream (unpaced)",
            "",
            table(
                [
                    "contender",
                    "client CPU us/stream",
                    "CPU vs raw",
                    "extra CPU us",
                    "wall ms/stream",
                    "wall vs raw",
                ],
                rows,
            ),
            "",
        ]
        first_rows = []
        raw_first = {
            key: statistics.median(data[api][key]["raw aiohttp"]["firsts"])
            for key in ("unpaced", "paced")
        }
        for name in unpaced:
            if not unpaced[name]["firsts"]:
                continue  # generate: no partials
            for key, label in (
                ("unpaced", "no delay"),
                ("paced", f"{_ms(PACED_FIRST_EVENT):.0f} ms delay"),
            ):
                firsts = data[api][key][name]["firsts"]
                med = statistics.median(firsts)
                first_rows.append(
                    [
                        name,
                        label,
                        _ms(med),
                        _ms(percentile(firsts, 0.95)),
                        fmt_ratio(med / raw_first[key]),
                        _ms(med - raw_first[key]),
                    ]
                )
        out += [
            f"## {api}: time to first partial",
            "",
            table(
                [
                    "contender",
                    "first event held back",
                    "median ms",
                    "p95 ms",
                    "vs raw",
                    "extra ms (median)",
                ],
                first_rows,
            ),
            "",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--out", type=Path, default=None, help="write the report here")
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    args = parser.parse_args(argv)
    text, data = asyncio.run(run("quick" if args.quick else "full"))
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
