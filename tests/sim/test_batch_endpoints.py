"""The simulator's Files and Batch APIs on the wire: create, get, cancel, auth, bad input."""

from __future__ import annotations

import json

import aiohttp

from genguard.sim import Simulator
from genguard.sim.batch import BatchFaults

OPENAI = {"Authorization": "Bearer any-key"}
GEMINI = {"x-goog-api-key": "any-key"}


async def test_openai_batches_can_be_cancelled_and_need_a_key() -> None:
    async with Simulator("clean") as sim, aiohttp.ClientSession(sim.base_url) as http:
        sim.batches.faults = BatchFaults(polls=5)
        line = {"custom_id": "a", "method": "POST", "url": "/v1/images/generations",
                "body": {"model": "gpt-image-1", "prompt": "a kite"}}  # fmt: skip
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", json.dumps(line).encode(), filename="in.jsonl")
        async with http.post("/v1/files", data=form, headers=OPENAI) as resp:
            file_id = (await resp.json())["id"]
        body = {"input_file_id": file_id, "endpoint": "/v1/images/generations",
                "completion_window": "24h"}  # fmt: skip
        async with http.post("/v1/batches", json=body) as resp:
            assert resp.status == 401
        wrong = {**body, "endpoint": "/v1/x"}
        async with http.post("/v1/batches", json=wrong, headers=OPENAI) as resp:
            assert resp.status == 400
        async with http.post("/v1/batches", json=body, headers=OPENAI) as resp:
            batch = await resp.json()
        assert batch["status"] == "validating" and batch["request_counts"]["total"] == 1
        async with http.post(f"/v1/batches/{batch['id']}/cancel", headers=OPENAI) as resp:
            assert (await resp.json())["status"] == "cancelling"
        async with http.get(f"/v1/batches/{batch['id']}", headers=OPENAI) as resp:
            done = await resp.json()
        assert done["status"] == "cancelled" and done["output_file_id"] is None
        assert sim.batches.cancels == 1 and not sim.log  # nothing was generated


async def test_gemini_batches_can_be_cancelled_and_report_states() -> None:
    async with Simulator("clean") as sim, aiohttp.ClientSession(sim.base_url) as http:
        sim.batches.faults = BatchFaults(polls=1)
        request = {"contents": [{"role": "user", "parts": [{"text": "a kite"}]}]}
        body = {"batch": {"display_name": "t", "input_config": {"requests": {"requests": [
            {"request": request, "metadata": {"key": "k1"}}]}}}}  # fmt: skip
        path = "/v1beta/models/gemini-2.5-flash-image:batchGenerateContent"
        async with http.post(path, json=body) as resp:
            assert resp.status == 403
        async with http.post(path, json={"batch": {}}, headers=GEMINI) as resp:
            assert resp.status == 400
        async with http.post(path, json=body, headers=GEMINI) as resp:
            created = await resp.json()
        name = created["name"]
        assert created["metadata"]["state"] == "BATCH_STATE_PENDING"
        async with http.get(f"/v1beta/{name}", headers=GEMINI) as resp:
            assert (await resp.json())["metadata"]["state"] == "BATCH_STATE_RUNNING"
        async with http.post(f"/v1beta/{name}:cancel", headers=GEMINI) as resp:
            assert resp.status == 200
        async with http.get(f"/v1beta/{name}", headers=GEMINI) as resp:
            view = await resp.json()
        assert view["metadata"]["state"] == "BATCH_STATE_CANCELLED" and view["done"] is True
        assert "response" not in view and not sim.log
