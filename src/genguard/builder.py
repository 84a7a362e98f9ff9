"""Building a stack in Python: ``Pipeline.builder().retry(attempts=3)...build_config()``.

The builder writes the same raw profile a file would hold and runs it through
the same validation, so a stack built in code and one read from a file are
equal ``ProfileConfig`` objects, and both go through the one factory.
Options use the file's spelling and values (``"250ms"`` or ``0.25``, ``"60/min"``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config.schema import ProfileConfig
from .config.secrets import Secret
from .config.validate import validate_profile
from .keys import key_text

if TYPE_CHECKING:
    from .pipeline import Client


def _options(**options: Any) -> dict[str, Any]:
    """Keyword arguments minus the ones left unset."""
    return {key: value for key, value in options.items() if value is not None}


class PipelineBuilder:
    """Collects provider, deadline, layers and sections, in call order (outermost first)."""

    def __init__(self, name: str = "default") -> None:
        self._name = name
        self._raw: dict[str, Any] = {}
        self._layers: list[Any] = []

    # -- profile parts --------------------------------------------------------------------------
    def provider(self, type: str, **options: Any) -> PipelineBuilder:
        """``provider("gemini", api_key="${GEMINI_API_KEY}", model=...)`` or ``provider("sim")``.

        In code, ``api_key`` may also be the key itself: a ``str`` (without ``${``) or a
        pydantic ``SecretStr``. It is held as a ``Secret`` and shown as ``***``.
        """
        key = options.get("api_key")
        if isinstance(key, str) and "${" not in key and key:
            options["api_key"] = Secret(key, source="value", ref="code")
        elif key is not None and not isinstance(key, str | Secret | Mapping):
            options["api_key"] = Secret(key_text(key), source="value", ref="code")
        self._raw["provider"] = {"type": type, **options}
        return self

    def deadline(self, value: float | str | None) -> PipelineBuilder:
        self._raw["deadline"] = value
        return self

    def describe(self, text: str) -> PipelineBuilder:
        self._raw["description"] = text
        return self

    def state(self, **options: Any) -> PipelineBuilder:
        self._raw["state"] = options
        return self

    def telemetry_export(self, **options: Any) -> PipelineBuilder:
        """The profile-level ``telemetry`` section (exporters), not the layer."""
        self._raw["telemetry"] = options
        return self

    def transport(self, **options: Any) -> PipelineBuilder:
        self._raw["transport"] = options
        return self

    def stream(self, **options: Any) -> PipelineBuilder:
        """The profile's ``stream`` section: defaults of ``client.stream``."""
        self._raw["stream"] = options
        return self

    def ignore_checks(self, *codes: str) -> PipelineBuilder:
        self._raw["ignore_checks"] = list(codes)
        return self

    # -- layers, in the order they should wrap --------------------------------------------------
    def layer(self, name: str, **options: Any) -> PipelineBuilder:
        """Any layer by name (built-in or from a ``genguard.layers`` entry point)."""
        self._layers.append({name: options} if options else name)
        return self

    def telemetry(self, *, log_prompts: bool | None = None) -> PipelineBuilder:
        return self.layer("telemetry", **_options(log_prompts=log_prompts))

    def safety(
        self,
        *,
        input: Mapping[str, Any] | str | None = None,
        output: Mapping[str, Any] | str | None = None,
        on_block: str | None = None,
        log_prompts: bool | None = None,
    ) -> PipelineBuilder:
        """``input``/``output`` take a classifier mapping or just its name (``"rules"``)."""

        def stage(value: Mapping[str, Any] | str | None) -> Any:
            return {"classifier": value} if isinstance(value, str) else value

        return self.layer(
            "safety",
            **_options(
                input=stage(input), output=stage(output), on_block=on_block, log_prompts=log_prompts
            ),
        )

    def prompt_policy(self, **options: Any) -> PipelineBuilder:
        return self.layer("prompt_policy", **options)

    def fallback(self, *profiles: str) -> PipelineBuilder:
        return self.layer("fallback", to=list(profiles))

    def retry(
        self,
        *,
        attempts: int | None = None,
        initial: float | str | None = None,
        max_delay: float | str | None = None,
        multiplier: float | None = None,
        jitter: str | None = None,
        max_retry_after: float | str | None = None,
        budget_ratio: float | None = None,
        budget_min_per_s: float | None = None,
    ) -> PipelineBuilder:
        backoff = _options(initial=initial, max=max_delay, multiplier=multiplier, jitter=jitter)
        budget = _options(ratio=budget_ratio, min_per_s=budget_min_per_s)
        return self.layer(
            "retry",
            **_options(
                attempts=attempts,
                backoff=backoff or None,
                max_retry_after=max_retry_after,
                budget=budget or None,
            ),
        )

    def circuit_breaker(self, **options: Any) -> PipelineBuilder:
        """Options as in the file: ``fail_max``, ``reset_timeout``, ``failure_ratio``..."""
        return self.layer("circuit_breaker", **options)

    def rate_limit(
        self,
        *,
        requests: str | float | None = None,
        images: str | float | None = None,
        tokens: str | float | None = None,
        burst: int | None = None,
        concurrency: int | None = None,
        queue: int | None = None,
        key: str | None = None,
        max_keys: int | None = None,
    ) -> PipelineBuilder:
        return self.layer(
            "rate_limit",
            **_options(
                requests=requests,
                images=images,
                tokens=tokens,
                burst=burst,
                concurrency=concurrency,
                queue=queue,
                key=key,
                max_keys=max_keys,
            ),
        )

    def timeout(self, attempt: float | str) -> PipelineBuilder:
        return self.layer("timeout", attempt=attempt)

    # -- results ---------------------------------------------------------------------------------
    def raw(self) -> dict[str, Any]:
        """The profile as it would be written in a file."""
        return {**self._raw, "layers": list(self._layers)}

    def build_config(self, *, env: Mapping[str, str] | None = None) -> ProfileConfig:
        """Validate into a ProfileConfig; raises ConfigErrors exactly as a file would."""
        return validate_profile(
            self._name,
            self.raw(),
            path=f"profiles.{self._name}",
            env=os.environ if env is None else env,
        )

    def build(self, **client_options: Any) -> Client:
        """A Client for this stack (see ``genguard.config.build_client``)."""
        from .factory import build_client

        return build_client(self.build_config(), **client_options)


class Pipeline:
    """Entry point of the builder API."""

    @staticmethod
    def builder(name: str = "default") -> PipelineBuilder:
        return PipelineBuilder(name)


__all__ = ["Pipeline", "PipelineBuilder", "Secret"]
