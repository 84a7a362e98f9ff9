"""Every catalogue entry against the simulator over HTTP: a valid request goes through
with the wire fields the entry allows, an invalid one fails locally (nothing sent) with
the allowed values in the message, and the simulator itself refuses it the same way."""

from __future__ import annotations

import logging

import pytest
from catalogue_support import (
    SIM_NOT_FOUND,
    TODAY,
    clock_on,
    invalid_request,
    provider_for,
    valid_request,
)

from genguard import Client
from genguard.catalogue import ModelSpec, default_catalogue
from genguard.catalogue.policy import CataloguePolicy
from genguard.errors import BadRequest, InvalidRequest
from genguard.sim import Simulator

ENTRIES = list(default_catalogue())
IDS = [spec.name for spec in ENTRIES]


def _expected_wire(spec: ModelSpec, body: dict[str, object], edit: bool) -> None:
    request = valid_request(spec, edit=edit)
    options = request.options
    if spec.provider == "openai":
        fields = body["fields"] if edit else body
        assert isinstance(fields, dict)
        assert fields["model"] == spec.name and str(fields["n"]) == str(request.n)
        assert fields["size"] == request.size
        for key in ("quality", "background", "output_format", "user", "input_fidelity"):
            if key in options:
                assert fields[key] == str(options[key]), key
        if "output_compression" in options:
            assert str(fields["output_compression"]) == "50"
        if edit:
            files = body["files"]
            assert isinstance(files, list)
            names = sorted(f["name"] for f in files)
            images = ["image"] if len(request.images) == 1 else ["image[]"] * len(request.images)
            assert names == sorted(images + (["mask"] if "mask" in options else []))
    elif spec.provider == "gemini":
        config = body["generationConfig"]
        assert isinstance(config, dict)
        image_config = {}
        if request.aspect_ratio:
            image_config["aspectRatio"] = request.aspect_ratio
        if "image_size" in options:
            image_config["imageSize"] = options["image_size"]
        assert config.get("imageConfig") == (image_config or None)
        assert config.get("candidateCount", 1) == request.n
        assert config.get("seed") == request.seed
        assert body.get("serviceTier") == options.get("service_tier")
        contents = body["contents"]
        assert isinstance(contents, list)
        parts = contents[-1]["parts"]
        assert sum(1 for p in parts if "inlineData" in p) == len(request.images)
    else:
        params = body["parameters"]
        assert isinstance(params, dict)
        assert params["sampleCount"] == request.n
        assert params["aspectRatio"] == request.aspect_ratio
        assert params.get("sampleImageSize") == options.get("image_size")
        assert params["negativePrompt"] == "blur" and params["seed"] == 7
        assert params["personGeneration"] == "allow_adult"


@pytest.mark.parametrize("spec", ENTRIES, ids=IDS)
async def test_a_valid_request_reaches_the_simulator(
    spec: ModelSpec, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    edits = [False, True] if spec.capabilities.edits else [False]
    caplog.set_level(logging.WARNING, logger="genguard.catalogue")
    provider = provider_for(spec, sim.base_url)
    async with Client(provider, clock=clock_on(TODAY)) as client:
        for edit in edits:
            request = valid_request(spec, edit=edit)
            if spec.name in SIM_NOT_FOUND:
                with pytest.raises(BadRequest) as info:
                    await client.generate(request)
                assert info.value.status == 404 and "not found" in str(info.value).lower()
            else:
                result = await client.generate(request)
                assert result.images and result.model.startswith(spec.name.split("-2026")[0])
                if spec.provider != "gemini":
                    assert len(result.images) == request.n
            record = sim.log[-1]
            assert record.model == spec.name
            assert record.status == (404 if spec.name in SIM_NOT_FOUND else 200)
            _expected_wire(spec, record.body, edit)
    retired = [r.getMessage() for r in caplog.records if "retired" in r.getMessage()]
    if spec.status(TODAY) == "retired":
        successor = spec.lifecycle.successor
        assert len(retired) == 1, retired  # once per model, not per call
        assert successor is not None and successor in retired[0]
    else:
        assert retired == []


@pytest.mark.parametrize("spec", ENTRIES, ids=IDS)
async def test_an_invalid_request_fails_locally_with_the_allowed_values(
    spec: ModelSpec, sim: Simulator
) -> None:
    request, field, allowed = invalid_request(spec)
    assert allowed, "the test needs a field with a list of allowed values"
    provider = provider_for(spec, sim.base_url)
    async with Client(provider, clock=clock_on(TODAY)) as client:
        with pytest.raises(InvalidRequest) as info:
            await client.generate(request)
    error = info.value
    assert not isinstance(error, BadRequest)
    assert (error.field, error.model) == (field, spec.name)
    assert error.allowed == allowed
    for value in allowed:
        assert value in str(error)
    assert sim.log == []  # no round trip, no bill


@pytest.mark.parametrize("spec", ENTRIES, ids=IDS)
async def test_the_simulator_refuses_what_validation_would_have_caught(
    spec: ModelSpec, sim: Simulator
) -> None:
    request, field, _ = invalid_request(spec)
    unchecked = CataloguePolicy(validate=False, on_retired="ignore")
    provider = provider_for(spec, sim.base_url, unchecked)
    async with Client(provider, clock=clock_on(TODAY)) as client:
        with pytest.raises(BadRequest) as info:
            await client.generate(request)
    assert info.value.status == 400
    if spec.provider == "openai":
        assert info.value.param == field == "size"
    else:
        wire_names = {"aspect_ratio": "aspect_ratio", "n": "candidate_count"}
        assert wire_names[field] in str(info.value)
    assert [r.status for r in sim.log] == [400]
