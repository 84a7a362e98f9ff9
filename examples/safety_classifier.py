"""The safety layer end to end, against the embedded simulator (no API key needed).

    python examples/safety_classifier.py

1. A chain of the local ``rules`` classifier, the ``moderation`` classifier (the
   simulator's ``/v1/moderations``) and a custom classifier refuses prompts
   before the provider is called.
2. With the simulator's ``safety`` profile, the provider's own blocks (Gemini's
   ``IMAGE_SAFETY`` on a 200, its ``promptFeedback.blockReason``) come back as
   one ``ContentBlocked`` with a uniform category, and are never retried.
3. The moderation endpoint goes down: ``fail="open"`` lets prompts through and
   reports it, ``fail="closed"`` refuses with ``ClassifierUnavailable``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from genguard import Client, GenerationRequest, Observer
from genguard.errors import ClassifierUnavailable, ContentBlocked
from genguard.layers.prompt_policy import PromptPolicyLayer
from genguard.layers.retry import RetryLayer
from genguard.layers.safety import SafetyLayer
from genguard.model import Call
from genguard.pipeline import Layer
from genguard.providers.gemini import GeminiProvider
from genguard.providers.transport import HttpTransport
from genguard.safety import ClassifierChain, ModerationClassifier, RulesClassifier, Verdict
from genguard.sim import Simulator


class NoBrandNames:
    """A custom classifier: any object with ``name`` and ``async classify(request)``."""

    name = "brands"
    categories = ("brand",)  # declares its category so chains may configure it

    async def classify(self, request: GenerationRequest) -> Verdict:
        hit = "acme" in request.prompt.lower()
        return Verdict(
            allowed=not hit,
            categories={"brand": 1.0} if hit else {},
            flagged=("brand",) if hit else (),
            reason="mentions a trademark" if hit else None,
            classifier=self.name,
        )


class Tally(Observer):
    """Counts verdicts by stage, category and action, as a metrics backend would."""

    def __init__(self) -> None:
        self.verdicts: Counter[str] = Counter()
        self.notices: list[str] = []

    def safety_verdict(
        self,
        call: Call,
        stage: str,
        allowed: bool,
        categories: dict[str, float],
        classifier: str,
        action: str,
    ) -> None:
        for category in categories or {"-": 0.0}:
            self.verdicts[f"{stage:6} {action:5} {category:14} ({classifier})"] += 1

    def notice(self, call: Call | None, event: str, **fields: Any) -> None:
        if event.startswith("safety_classifier"):
            self.notices.append(f"{event}: {fields.get('error', '')}")


async def classifier_chain() -> None:
    print("1. input classifiers (provider never called for refused prompts)")
    tally = Tally()
    async with Simulator(profile="clean") as sim:
        transport = HttpTransport()
        chain = ClassifierChain(
            [
                RulesClassifier(),
                ModerationClassifier(api_key="sim-key", base_url=sim.base_url, transport=transport),
                NoBrandNames(),
            ],
            actions={"brand": "warn"},  # report trademarks, let them through
        )
        layers: list[Layer] = [SafetyLayer(input=chain), PromptPolicyLayer()]
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        async with Client(provider, layers, observer=tally, transport=transport) as client:
            for prompt in (
                "a lighthouse at dusk",
                "a decapitated knight, gory",  # rules: violence
                "a poster hate-test",  # the simulator's moderation flags this word
                "an acme rocket on a mesa",  # custom classifier: warn only
                "shoot a photo of a killer app launch",  # benign, shares words
            ):
                try:
                    await client.generate(prompt)
                    print(f"   ok       {prompt!r}")
                except ContentBlocked as blocked:
                    print(f"   blocked  {prompt!r}: {blocked.category} by {blocked.reason!r}")
        await transport.aclose()
        image_calls = sum(r.api == "gemini" for r in sim.log)
    print(f"   image requests sent: {image_calls} of 5 prompts")
    for line, count in sorted(tally.verdicts.items()):
        print(f"   {count} x {line}")


async def provider_blocks() -> None:
    print("\n2. provider blocks (simulator 'safety' profile), one category list")
    tally = Tally()
    outcomes: Counter[str] = Counter()
    async with Simulator(profile="safety", fraction=0.4) as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        layers: list[Layer] = [SafetyLayer(input=None), RetryLayer(attempts=4, initial=0.01)]
        async with Client(provider, layers, observer=tally) as client:
            for i in range(20):
                try:
                    await client.generate(f"a red bicycle #{i}")
                    outcomes["ok"] += 1
                except ContentBlocked as blocked:
                    outcomes[f"{blocked.stage}/{blocked.category} (raw: {blocked.reason})"] += 1
        requests = len(sim.log)
    for outcome, count in sorted(outcomes.items()):
        print(f"   {count:2} x {outcome}")
    print(f"   upstream requests: {requests} for 20 calls (blocks are never retried)")


async def moderation_outage() -> None:
    print("\n3. moderation endpoint down")
    async with Simulator(profile="clean") as down:
        dead_url = down.base_url  # stopped below: its port refuses connections
    async with Simulator(profile="clean") as sim:
        provider = GeminiProvider("sim-key", base_url=sim.base_url)
        for policy in ("open", "closed"):
            tally = Tally()
            transport = HttpTransport()
            moderation = ModerationClassifier(
                api_key="sim-key", base_url=dead_url, transport=transport, fail=policy
            )
            layer = SafetyLayer(input=ClassifierChain([moderation]))
            async with Client(provider, [layer], observer=tally, transport=transport) as client:
                try:
                    await client.generate("a lighthouse at dusk")
                    print(f"   fail={policy:6} -> generated; {tally.notices[0]}")
                except ClassifierUnavailable as error:
                    print(f"   fail={policy:6} -> {type(error).__name__}: {error}")
            await transport.aclose()


async def main() -> None:
    await classifier_chain()
    await provider_blocks()
    await moderation_outage()


if __name__ == "__main__":
    asyncio.run(main())
