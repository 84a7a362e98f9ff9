"""Helpers for simulator tests: a plain aiohttp client speaking both wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

GEMINI_MODEL = "gemini-2.5-flash-image"
GEMINI3_MODEL = "gemini-3-pro-image-preview"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def gemini_body(prompt: str = "a red fox", **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if config:
        body["generationConfig"] = config
    return body


async def post_gemini(
    http: aiohttp.ClientSession,
    base_url: str,
    body: dict[str, Any] | None = None,
    *,
    model: str = GEMINI_MODEL,
    key: str | None = "test-key",
    query_key: bool = False,
) -> tuple[int, dict[str, str], Any]:
    url = f"{base_url}/v1beta/models/{model}:generateContent"
    headers = {}
    if key is not None and not query_key:
        headers["x-goog-api-key"] = key
    if key is not None and query_key:
        url += f"?key={key}"
    async with http.post(url, json=body or gemini_body(), headers=headers) as resp:
        data = await _body(resp)
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, data


async def post_openai(
    http: aiohttp.ClientSession,
    base_url: str,
    body: dict[str, Any] | None = None,
    *,
    path: str = "/v1/images/generations",
    key: str | None = "test-key",
) -> tuple[int, dict[str, str], Any]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    payload = body if body is not None else {"model": "gpt-image-1", "prompt": "a red fox"}
    async with http.post(f"{base_url}{path}", json=payload, headers=headers) as resp:
        data = await _body(resp)
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, data


async def _body(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text()
    try:
        return await resp.json(content_type=None)
    except ValueError:
        return text
