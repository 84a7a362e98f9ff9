"""The ``moderation`` classifier: OpenAI's ``/v1/moderations`` over the client's own session.

A remote model judges meaning where word lists cannot, at the cost of a network
call. That call has its own short timeout (a slow moderator must not eat the
generation's deadline) and an explicit policy for when it is unavailable:
``open`` lets the prompt through (and reports it), ``closed`` refuses the call
with ``ClassifierUnavailable`` (not ``ContentBlocked``: nothing was judged).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal

from ..clock import Clock, SystemClock
from ..errors import ClassifierUnavailable, ConfigError, GenGuardError, ResponseError, redact
from ..model import GenerationRequest
from ..providers._wire import Secret, SecretHeaders
from ..providers.transport import HttpTransport, json_headers
from ..timer import clock_timeout
from .categories import OPENAI_MODERATION_CATEGORIES, UNSPECIFIED
from .verdict import Verdict

FailPolicy = Literal["open", "closed"]
_FAIL_ALIASES: Mapping[str, FailPolicy] = {
    "open": "open",
    "fail_open": "open",
    "closed": "closed",
    "fail_closed": "closed",
}


def parse_moderation_response(body: bytes | str | Any, classifier: str = "moderation") -> Verdict:
    """Turn a ``/v1/moderations`` body (bytes, text or decoded JSON) into a ``Verdict``.

    Scores of the API's sub-categories (``violence/graphic``...) fold into the
    uniform category as their maximum; unknown categories fold into
    ``unspecified``. Anything not shaped as documented raises ``ResponseError``.
    """
    data = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ResponseError(
                "moderation: response body is not JSON", provider=classifier
            ) from None
    if not isinstance(data, dict):
        raise ResponseError("moderation: response is not a JSON object", provider=classifier)
    results = data.get("results")
    if not isinstance(results, list) or not results:
        raise ResponseError("moderation: 'results' is missing or empty", provider=classifier)
    scores: dict[str, float] = {}
    flagged: dict[str, None] = {}
    any_flagged = False
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise ResponseError(
                f"moderation: results[{index}] is not an object", provider=classifier
            )
        flag = result.get("flagged")
        if not isinstance(flag, bool):
            raise ResponseError(
                f"moderation: results[{index}].flagged is not a boolean", provider=classifier
            )
        any_flagged = any_flagged or flag
        raw_scores = result.get("category_scores")
        raw_flags = result.get("categories")
        raw_scores = {} if raw_scores is None else raw_scores
        raw_flags = {} if raw_flags is None else raw_flags
        if not isinstance(raw_scores, dict) or not isinstance(raw_flags, dict):
            raise ResponseError(
                f"moderation: results[{index}] categories are not objects", provider=classifier
            )
        for name, score in raw_scores.items():
            if score is None:  # legacy models leave illicit* unset
                continue
            if (
                isinstance(score, bool)
                or not isinstance(score, int | float)
                or not math.isfinite(score)
            ):
                raise ResponseError(
                    f"moderation: score of {str(name)[:40]!r} is not a number", provider=classifier
                )
            category = OPENAI_MODERATION_CATEGORIES.get(str(name), UNSPECIFIED)
            value = min(1.0, max(0.0, float(score)))
            scores[category] = max(scores.get(category, 0.0), value)
        for name, value in raw_flags.items():
            if value is None:
                continue
            if not isinstance(value, bool):
                raise ResponseError(
                    f"moderation: category {str(name)[:40]!r} is not a boolean", provider=classifier
                )
            if value:
                flagged[OPENAI_MODERATION_CATEGORIES.get(str(name), UNSPECIFIED)] = None
    if any_flagged and not flagged:
        flagged[UNSPECIFIED] = None
    for category in flagged:
        scores.setdefault(category, 1.0)
    reason = "flagged: " + ", ".join(flagged) if flagged else None
    return Verdict(
        allowed=not any_flagged,
        categories=scores,
        flagged=tuple(flagged),
        reason=reason,
        classifier=classifier,
    )


class ModerationClassifier:
    """Judges the prompt with OpenAI's moderation endpoint.

    ``transport`` is the client's ``HttpTransport`` (one aiohttp session for
    everything). ``timeout`` bounds the whole moderation call. ``fail`` says what
    happens when the endpoint cannot answer (connection error, timeout, non-200,
    malformed body): ``"open"`` (alias ``"fail_open"``) allows the prompt with
    ``Verdict.error`` set; ``"closed"`` (``"fail_closed"``) raises
    ``ClassifierUnavailable``. An empty prompt is allowed without a call.
    ``clock`` measures the timeout (the client's injected clock; the system's if None).
    """

    def __init__(
        self,
        *,
        api_key: str,
        transport: HttpTransport,
        base_url: str = "https://api.openai.com",
        timeout: float = 2.0,
        fail: str = "open",
        model: str = "omni-moderation-latest",
        name: str = "moderation",
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ConfigError("api_key", "the moderation classifier needs an API key")
        if not isinstance(transport, HttpTransport):
            raise ConfigError("transport", "the moderation classifier needs the client's transport")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigError("timeout", f"must be > 0 seconds, got {timeout!r}")
        policy = _FAIL_ALIASES.get(fail) if isinstance(fail, str) else None
        if policy is None:
            raise ConfigError("fail", f"must be 'open' or 'closed', got {fail!r}")
        self._key = Secret(api_key)
        # The credential lives only in objects whose repr masks it, so a traceback
        # captured with locals (Sentry's default) shows ``***``, never the key.
        self._headers = SecretHeaders(json_headers({"authorization": f"Bearer {api_key}"}))
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/v1/moderations"
        self.timeout = float(timeout)
        self.fail: FailPolicy = policy
        self.model = model
        self.name = name
        self.clock: Clock = clock if clock is not None else SystemClock()

    async def classify(self, request: GenerationRequest) -> Verdict:
        text = request.prompt
        if not text.strip():
            return Verdict.allow(self.name, reason="empty prompt")
        body = json.dumps({"model": self.model, "input": text}).encode()
        headers = self._headers
        try:
            async with clock_timeout(self.clock, self.timeout):
                response = await self.transport.request(
                    "POST", self.url, headers=headers, body=body, provider=self.name
                )
        except TimeoutError:
            return self._unavailable(f"timed out after {self.timeout:g}s")
        except GenGuardError as exc:
            return self._unavailable(f"{type(exc).__name__}: {exc.message}")
        if response.status != 200:
            return self._unavailable(f"HTTP {response.status}{_error_code(response.body)}")
        try:
            return parse_moderation_response(response.body, self.name)
        except ResponseError as exc:
            return self._unavailable(exc.message)

    def _unavailable(self, why: str) -> Verdict:
        why = redact(why, self._key.get())
        if self.fail == "closed":
            raise ClassifierUnavailable(
                f"{self.name} classifier unavailable ({why}); failing closed",
                classifier=self.name,
            )
        return Verdict(
            allowed=True,
            classifier=self.name,
            reason="unavailable; failing open",
            error=why,
        )

    def __repr__(self) -> str:
        return (
            f"ModerationClassifier(name={self.name!r}, base_url={self.base_url!r}, "
            f"model={self.model!r}, timeout={self.timeout:g}, fail={self.fail!r})"
        )


def _error_code(body: bytes) -> str:
    """`` (code)`` from an OpenAI error envelope, if there is one; never the message."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return f" ({str(code)[:60]})" if isinstance(code, str) and code else ""


__all__ = ["FailPolicy", "ModerationClassifier", "parse_moderation_response"]
