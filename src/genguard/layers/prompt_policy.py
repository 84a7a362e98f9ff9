"""Prompt policy: wraps every prompt with standing instructions the model should follow.

Image models drift from what was asked: they re-spell quoted text, draw four
apples when asked for three, add watermarks and props, and some ignore the size
fields of the API. Stating the constraints in the prompt itself measurably helps,
and doing it in one layer keeps the wording out of every caller. Off by default:
it changes what is sent, so a deployment opts in.

Place it inside the safety layer, so classifiers judge what the user wrote rather
than the template. The wrapped request replaces ``call.request`` for the rest of
the call; a request can opt out with ``options={"prompt_policy": False}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from ..core import Handler, Scope
from ..model import Call, GenerationRequest, GenerationResult
from ..options import LayerOptions

DEFAULT_RULES: tuple[str, ...] = (
    "Render any text exactly as written in the prompt: same words, spelling, "
    "capitalisation and punctuation, and no other text.",
    "Show exact quantities: when the prompt gives a number of things, draw exactly that many.",
    "Do not add objects, people, text, logos, borders or watermarks that the prompt "
    "does not ask for.",
)
HEADER = "Follow these rules:"
#: ``call.extras`` key set once the prompt is wrapped, so a re-entered layer never wraps twice.
APPLIED = "prompt_policy.applied"
OPT_OUT = "prompt_policy"

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[x×]\s*(\d{1,5})\s*$")
_RATIO = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


def size_hint(request: GenerationRequest) -> str | None:
    """A sentence naming the requested frame, or None when the request names none."""
    ratio = _RATIO.match(request.aspect_ratio or "")
    size = _SIZE.match(request.size or "")
    if size:
        width, height = int(size.group(1)), int(size.group(2))
        if width and height:
            divisor = math.gcd(width, height)
            shape = "square" if width == height else ("landscape" if width > height else "portrait")
            aspect = ratio.group(0).strip() if ratio else f"{width // divisor}:{height // divisor}"
            return f"Compose for a {shape} {width}x{height} image ({aspect} aspect ratio)."
    if ratio:
        w, h = int(ratio.group(1)), int(ratio.group(2))
        if w and h:
            shape = "square" if w == h else ("landscape" if w > h else "portrait")
            return f"Compose for a {shape} frame with a {w}:{h} aspect ratio."
    return None


def apply_policy(request: GenerationRequest, rules: Sequence[str], hint: bool) -> GenerationRequest:
    """``request`` with its prompt followed by the rules (and size hint), if there are any."""
    lines = list(rules)
    if hint:
        sentence = size_hint(request)
        if sentence:
            lines.append(sentence)
    if not lines:
        return request
    block = "\n".join(f"- {line}" for line in lines)
    return replace(request, prompt=f"{request.prompt.rstrip()}\n\n{HEADER}\n{block}")


#: One rule: a sentence with something in it.
Rule = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class PromptPolicyOptions(LayerOptions):
    layer_name: ClassVar[str] = "prompt_policy"
    doc: ClassVar[str] = "Rewrites or refuses prompts by rule before they are sent."

    rules: tuple[Rule, ...] | None = Field(
        None, description="Sentences appended to every prompt; the built-in rules if unset."
    )
    size_hint: bool = Field(True, description="Add the requested size/aspect to the prompt.")


class PromptPolicyLayer:
    """Appends ``rules`` (and, with ``size_hint``, the requested frame) to each prompt."""

    options_model: ClassVar[type[PromptPolicyOptions]] = PromptPolicyOptions

    scope: Scope = "call"

    def __init__(self, options: PromptPolicyOptions | None = None, /, **fields: Any) -> None:
        """``PromptPolicyLayer(PromptPolicyOptions(...))`` or ``rules=[...]``, ``size_hint=``."""
        self.options = options = PromptPolicyOptions.of(options, fields, "prompt_policy")
        rules = DEFAULT_RULES if options.rules is None else options.rules
        self.rules: tuple[str, ...] = tuple(" ".join(rule.split()) for rule in rules)
        self.size_hint = options.size_hint

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        request = call.request
        if not call.extras.get(APPLIED) and request.options.get(OPT_OUT, True) is not False:
            call.request = apply_policy(request, self.rules, self.size_hint)
            call.extras[APPLIED] = True
        return await next(call)

    def __repr__(self) -> str:
        return f"PromptPolicyLayer(rules={len(self.rules)}, size_hint={self.size_hint})"


__all__ = [
    "DEFAULT_RULES",
    "HEADER",
    "PromptPolicyLayer",
    "PromptPolicyOptions",
    "apply_policy",
    "size_hint",
]
