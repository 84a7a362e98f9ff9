"""The job file: JSONL and CSV, bounded and typed; every bad input is a JobFileError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genguard.batch import JobFileError, parse_jobs, parse_shard, read_jobs, shard_of
from genguard.batch.jobs import MAX_PROMPT_CHARS, load_images


def _jsonl(*rows: object) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_jsonl_fields_become_requests() -> None:
    jobs = parse_jobs(
        _jsonl(
            {"id": "a", "prompt": "a fox", "n": 2, "seed": 0, "size": "1024x1024"},
            {"id": 7, "prompt": "a boat", "metadata": {"tenant": "t1"}, "aspect_ratio": "16:9"},
        )
    )
    assert [j.id for j in jobs] == ["a", "7"]
    request = jobs[0].request()
    assert (request.prompt, request.n, request.seed, request.size) == ("a fox", 2, 0, "1024x1024")
    assert request.idempotency_key == "batch-a"
    assert jobs[1].request().metadata == {"tenant": "t1"}
    assert jobs[1].line == 2


def test_csv_with_a_prompt_column_and_generated_ids() -> None:
    data = b'prompt,seed,n\n"a fox, in snow",3,1\n\na boat,,2\n'
    jobs = parse_jobs(data, fmt="csv")
    assert [(j.id, j.prompt, j.seed, j.n) for j in jobs] == [
        ("row-1", "a fox, in snow", 3, 1),
        ("row-2", "a boat", None, 2),
    ]


@pytest.mark.parametrize(
    ("data", "fmt", "needle"),
    [
        (b'{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}', "jsonl", "duplicate id"),
        (b'{"id": "../x", "prompt": "x"}', "jsonl", "id must be"),
        (b'{"id": "a", "prompt": ""}', "jsonl", "prompt must be"),
        (b'{"id": "a", "prompt": "x", "n": 11}', "jsonl", "n must be"),
        (b'{"id": "a", "prompt": "x", "n": true}', "jsonl", "n must be"),
        (b'{"id": "a", "prompt": "x", "promt": "typo"}', "jsonl", "unknown field"),
        (b'{"id": "a", "prompt": "x"', "jsonl", "not JSON"),
        (b"[1, 2]", "jsonl", "expected an object"),
        (b"", "jsonl", "no jobs"),
        (b"\xff\xfe", "jsonl", "not UTF-8"),
        (b"id,text\na,b\n", "csv", "no 'prompt' column"),
        (b"prompt,colour\nx,red\n", "csv", "unknown column"),
        (b"prompt,seed\nx,abc\n", "csv", "seed must be an integer"),
        (b"prompt\nx,y\n", "csv", "cells for"),
    ],
)
def test_bad_input_names_the_line(data: bytes, fmt: str, needle: str) -> None:
    with pytest.raises(JobFileError) as caught:
        parse_jobs(data, path="jobs", fmt=fmt)  # type: ignore[arg-type]
    assert needle in str(caught.value)
    assert str(caught.value).startswith("jobs")


def test_prompt_size_is_bounded() -> None:
    with pytest.raises(JobFileError, match="prompt exceeds"):
        parse_jobs(_jsonl({"id": "a", "prompt": "x" * (MAX_PROMPT_CHARS + 1)}))


def test_images_are_read_only_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cat.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "secret.png").write_bytes(b"secret")
    jobs_file = tmp_path / "in" / "jobs.jsonl"
    jobs_file.write_bytes(_jsonl({"id": "e", "prompt": "make it blue", "images": ["cat.png"]}))
    job = read_jobs(jobs_file)[0]
    assert load_images(job)[0].data == b"\x89PNG fake"
    for bad in (["../secret.png"], [str(tmp_path / "secret.png")], "cat.png", []):
        jobs_file.write_bytes(_jsonl({"id": "e", "prompt": "x", "images": bad}))
        with pytest.raises(JobFileError):
            read_jobs(jobs_file)


def test_missing_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="cannot read"):
        read_jobs(tmp_path / "nope.jsonl")


def test_format_is_sniffed_without_a_known_suffix(tmp_path: Path) -> None:
    path = tmp_path / "jobs.txt"
    path.write_bytes(b"prompt\na fox\n")
    assert read_jobs(path)[0].prompt == "a fox"
    path.write_bytes(_jsonl({"id": "x", "prompt": "a fox"}))
    assert read_jobs(path)[0].id == "x"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["jsonl", "csv"]))
def test_any_bytes_give_jobs_or_a_job_file_error(data: bytes, fmt: str) -> None:
    try:
        jobs = parse_jobs(data, fmt=fmt)  # type: ignore[arg-type]
    except JobFileError:
        return
    assert jobs and all(j.prompt.strip() for j in jobs)
    assert len({j.id for j in jobs}) == len(jobs)


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


_keys = st.sampled_from(
    ["id", "prompt", "n", "seed", "size", "model", "metadata", "images", "aspect_ratio", "x"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(_keys, _values), min_size=1, max_size=4))
def test_any_json_objects_give_jobs_or_a_job_file_error(rows: list[dict[str, object]]) -> None:
    try:
        jobs = parse_jobs(_jsonl(*rows))
    except JobFileError:
        return
    for job in jobs:
        job.request()  # a parsed job always makes a valid request


@given(
    st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), unique=True),
    st.integers(1, 9),
)
def test_shards_partition_the_jobs(ids: list[str], n: int) -> None:
    owners = [shard_of(i, n) for i in ids]
    assert all(1 <= k <= n for k in owners)
    assert sum(sum(1 for o in owners if o == k) for k in range(1, n + 1)) == len(ids)


@given(st.text(max_size=12))
def test_shard_text_is_k_of_n_or_a_typed_error(text: str) -> None:
    try:
        k, n = parse_shard(text)
    except JobFileError:
        return
    assert 1 <= k <= n


def test_shard_examples() -> None:
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "a/b", "1", "1/0"):
        with pytest.raises(JobFileError):
            parse_shard(bad)
