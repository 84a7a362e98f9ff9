"""The safety layer: one verdict before the call, one after, and every block counted.

Placed outside retry and fallback, so a refused prompt spends no quota, no rate
permit and no retry. Blocks raised further in (the provider adapters turn
Gemini's ``IMAGE_SAFETY``/``blockReason`` and OpenAI's ``content_policy_violation``
into ``ContentBlocked``) pass through untouched but are reported here, so
dashboards count every block by stage and category, whoever raised it.

Prompts are never reported as text unless ``log_prompts`` is set: events carry a
SHA-256 fingerprint and the length, enough to correlate without storing content.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..core import Handler, Scope
from ..errors import ClassifierUnavailable, ContentBlocked, Stage
from ..model import Call, GenerationRequest, GenerationResult
from ..options import LayerOptions, Number, Options
from ..safety.chain import ClassifierChain, Decision

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
#: Classifiers a config names without an import path -> ``module:Class``.
BUILTIN_CLASSIFIERS: dict[str, str] = {
    "rules": "genguard.safety.rules:RulesClassifier",
    "moderation": "genguard.safety.moderation:ModerationClassifier",
}

#: ``call.extras`` keys: the ``ChainResult`` of each stage, and the provider block reported.
INPUT_RESULT = "safety.input"
OUTPUT_RESULT = "safety.output"
_REPORTED = "safety.reported"


def fingerprint(text: str) -> str:
    """First 16 hex digits of the SHA-256 of ``text``: correlates events without the text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class ClassifierOptions(Options):
    doc: ClassVar[str] = "Which classifier judges a stage, and how."

    classifier: str | tuple[str, ...] = Field(
        "rules",
        description="`rules`, `moderation` or `pkg.module:Class`; a list runs them in order.",
    )
    thresholds: dict[str, Number] | None = Field(
        None, description="Per category, the score (0-1) at which it is over the line."
    )
    actions: dict[str, Literal["block", "warn"]] | None = Field(
        None, description="Per category, `block` or `warn` when over the line."
    )
    default_action: Literal["block", "warn"] | None = Field(
        None, description="Action for categories not in `actions`; the layer's `on_block` if unset."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the classifier (`moderation`: `api_key`, `base_url`, "
        "`fail`, `timeout`; the OpenAI provider's key and URL by default).",
    )

    @model_validator(mode="after")
    def _known_classifier(self) -> ClassifierOptions:
        names = (self.classifier,) if isinstance(self.classifier, str) else self.classifier
        if not names:
            raise ValueError("classifier list must not be empty")
        for name in names:
            if name not in BUILTIN_CLASSIFIERS and not _IMPORT_PATH.fullmatch(name):
                raise ValueError(
                    f"unknown classifier {name!r}: use rules, moderation or pkg.module:Class"
                )
        return self


class SafetyOptions(LayerOptions):
    layer_name: ClassVar[str] = "safety"
    doc: ClassVar[str] = "Classifies prompts before any quota is spent, and outputs after."

    input: ClassifierOptions | None = Field(
        default_factory=ClassifierOptions, description="Prompt check; null turns it off."
    )
    output: ClassifierOptions | None = Field(None, description="Generated-content check.")
    on_block: Literal["raise", "warn"] = Field(
        "raise",
        description="`raise` ContentBlocked, or `warn` (report the verdict, let it pass); "
        "the default action of both stages.",
    )
    log_prompts: bool = Field(False, description="Include prompt text in verdict events.")


class SafetyLayer:
    """Judges the prompt with ``input`` and the returned text with ``output``.

    Either chain may be None: with both None the layer only reports provider
    blocks. Each classifier's decision is reported as ``safety_verdict`` (the
    categories over their line, the action ``allow``/``warn``/``block``); warnings
    and blocks also get a ``safety_flagged`` notice with the prompt's fingerprint
    (and its text when ``log_prompts``). A failed-open classifier is reported as a
    ``safety_classifier_failed_open`` notice.
    """

    options_model: ClassVar[type[SafetyOptions]] = SafetyOptions

    scope: Scope = "call"

    def __init__(
        self,
        options: SafetyOptions | None = None,
        /,
        *,
        input: ClassifierChain | None,
        output: ClassifierChain | None = None,
        **fields: Any,
    ) -> None:
        """``SafetyLayer(SafetyOptions(...), input=chain)`` or ``log_prompts=True``: the
        chains are built collaborators (the factory builds them from the options'
        ``input``/``output``); every other option comes from the model."""
        self.options = SafetyOptions.of(options, fields, "safety")
        self.input = input
        self.output = output
        self.log_prompts = self.options.log_prompts

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        if self.input is not None:
            await self._judge(call, self.input, "input", call.request)
        try:
            result = await next(call)
        except ContentBlocked as blocked:
            if blocked.source == "provider" and call.extras.get(_REPORTED) is not blocked:
                call.extras[_REPORTED] = blocked
                self._report_provider_block(call, blocked)
            raise
        if self.output is not None:
            text = "\n".join(t for t in (result.text, result.revised_prompt) if t and t.strip())
            if text:
                checked = GenerationRequest(prompt=text, metadata=call.request.metadata)
                await self._judge(call, self.output, "output", checked)
        return result

    async def _judge(
        self, call: Call, chain: ClassifierChain, stage: Stage, request: GenerationRequest
    ) -> None:
        observer = call.observer
        try:
            outcome = await chain.evaluate(request, stage=stage)
        except ClassifierUnavailable as exc:
            exc.stage = stage
            observer.notice(
                call,
                "safety_classifier_unavailable",
                stage=stage,
                classifier=exc.classifier,
                policy="closed",
            )
            raise
        call.extras[INPUT_RESULT if stage == "input" else OUTPUT_RESULT] = outcome
        for decision in outcome.decisions:
            observer.safety_verdict(
                call,
                stage,
                decision.action != "block",
                dict(decision.categories),
                decision.classifier,
                decision.action,
            )
            if decision.verdict.error is not None:
                observer.notice(
                    call,
                    "safety_classifier_failed_open",
                    stage=stage,
                    classifier=decision.classifier,
                    error=decision.verdict.error,
                )
            if decision.action != "allow":
                observer.notice(
                    call, "safety_flagged", **self._flag_fields(stage, decision, request.prompt)
                )
        blocked = outcome.blocked
        if blocked is not None:
            category = blocked.category or "unspecified"
            subject = "prompt" if stage == "input" else "output"
            raise ContentBlocked(
                f"{subject} blocked by the {blocked.classifier!r} classifier "
                f"(category: {category})",
                stage=stage,
                category=category,
                source="classifier",
                reason=blocked.verdict.reason,
                provider=call.provider,
            )

    def _flag_fields(self, stage: Stage, decision: Decision, text: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "stage": stage,
            "source": "classifier",
            "action": decision.action,
            "category": decision.category,
            "classifier": decision.classifier,
            "reason": decision.verdict.reason,
            "text_sha256": fingerprint(text),
            "text_chars": len(text),
        }
        if self.log_prompts:
            fields["text"] = text
        return fields

    def _report_provider_block(self, call: Call, blocked: ContentBlocked) -> None:
        observer = call.observer
        name = f"provider:{blocked.provider or call.provider}"
        observer.safety_verdict(call, blocked.stage, False, {blocked.category: 1.0}, name, "block")
        prompt = call.request.prompt
        fields: dict[str, Any] = {
            "stage": blocked.stage,
            "source": "provider",
            "action": "block",
            "category": blocked.category,
            "classifier": name,
            "reason": blocked.reason,
            "text_sha256": fingerprint(prompt),
            "text_chars": len(prompt),
        }
        if self.log_prompts:
            fields["text"] = prompt
        observer.notice(call, "safety_flagged", **fields)

    def __repr__(self) -> str:
        return (
            f"SafetyLayer(input={self.input!r}, output={self.output!r}, "
            f"log_prompts={self.log_prompts})"
        )


__all__ = ["INPUT_RESULT", "OUTPUT_RESULT", "SafetyLayer", "SafetyOptions", "fingerprint"]
