"""Classifiers by name: built-ins, import paths, entry points, and chain config shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genguard.errors import ConfigError
from genguard.model import GenerationRequest
from genguard.providers.transport import HttpTransport
from genguard.safety import (
    ClassifierChain,
    ModerationClassifier,
    RulesClassifier,
    Verdict,
    build_chain,
    build_classifier,
    resolve_classifier,
)


class Shouty:
    """A custom classifier: blocks prompts in capitals."""

    name = "shouty"
    categories = ("shouting",)

    def __init__(self, min_length: int = 3) -> None:
        self.min_length = min_length

    async def classify(self, request: GenerationRequest) -> Verdict:
        text = request.prompt
        loud = len(text) >= self.min_length and text.isupper()
        return Verdict(
            allowed=not loud,
            categories={"shouting": 1.0} if loud else {},
            flagged=("shouting",) if loud else (),
            classifier=self.name,
        )


class NeedsTransport:
    name = "needs"

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    async def classify(self, request: GenerationRequest) -> Verdict:
        return Verdict.allow(self.name)


INSTANCE = Shouty(min_length=1)
HERE = __name__


def test_builtins_resolve() -> None:
    assert resolve_classifier("rules") is RulesClassifier
    assert resolve_classifier("moderation") is ModerationClassifier


async def test_import_path_with_options() -> None:
    classifier = build_classifier({"classifier": f"{HERE}:Shouty", "min_length": 5})
    assert isinstance(classifier, Shouty) and classifier.min_length == 5
    assert not (await classifier.classify(GenerationRequest(prompt="HELLO"))).allowed
    assert (await classifier.classify(GenerationRequest(prompt="HEY"))).allowed


def test_import_path_to_an_instance() -> None:
    assert build_classifier(f"{HERE}:INSTANCE") is INSTANCE
    with pytest.raises(ConfigError, match="instance and takes no options"):
        build_classifier({"classifier": f"{HERE}:INSTANCE", "min_length": 2})


def test_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gg_plugin_mod.py").write_text(
        "from genguard.safety import Verdict\n"
        "class Plugin:\n"
        "    name = 'plugin'\n"
        "    def __init__(self, word='x'):\n"
        "        self.word = word\n"
        "    async def classify(self, request):\n"
        "        return Verdict.allow(self.name)\n"
    )
    dist = tmp_path / "gg_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gg_plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[genguard.classifiers]\nmy_plugin = gg_plugin_mod:Plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    classifier: Any = build_classifier({"classifier": "my_plugin", "word": "boo"})
    assert type(classifier).__name__ == "Plugin" and classifier.word == "boo"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonexistent", "unknown classifier 'nonexistent'"),
        ("no_such_module_xyz:Thing", "cannot import"),
        (f"{HERE}:Missing", "has no attribute"),
        ({"min_length": 2}, "missing 'classifier'"),
        ({"classifier": f"{HERE}:Shouty", "bogus": 1}, "bad options"),
        (f"{HERE}:HERE", "no classify"),
        ({"classifier": "rules", "categories": ["nope"]}, "no built-in rule set"),
    ],
)
def test_bad_specs_raise_config_error(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_classifier(spec)


def test_nested_config_error_paths() -> None:
    with pytest.raises(ConfigError) as info:
        build_chain(
            {"classifiers": ["rules", {"classifier": "rules", "categories": {"x": "gore"}}]},
            path="safety.input",
        )
    assert info.value.path == "safety.input.classifiers[1].categories.x"
    with pytest.raises(ConfigError) as info:
        build_chain({"classifier": "rules", "thresholds": {"violence": 7}}, path="safety.input")
    assert info.value.path == "safety.input.thresholds.violence"


async def test_transport_is_injected_when_the_constructor_takes_it() -> None:
    transport = HttpTransport()
    built: Any = build_classifier(f"{HERE}:NeedsTransport", transport=transport)
    assert built.transport is transport
    moderation: Any = build_classifier(
        {"classifier": "moderation", "api_key": "sk-abc", "fail": "closed"}, transport=transport
    )
    assert moderation.transport is transport and moderation.fail == "closed"
    with pytest.raises(ConfigError, match="needs the client's HTTP transport"):
        build_classifier({"classifier": "moderation", "api_key": "sk-abc"})
    with pytest.raises(ConfigError) as info:
        build_classifier({"classifier": "moderation", "api_key": ""}, transport=transport)
    assert info.value.path == "classifier.api_key"


async def test_chain_shapes() -> None:
    assert build_chain(None) is None
    existing = ClassifierChain([RulesClassifier()])
    assert build_chain(existing) is existing
    single = build_chain("rules")
    assert single is not None and isinstance(single.classifiers[0], RulesClassifier)
    mapping = build_chain(
        {"classifier": "rules", "allowlist": ["gore tex"], "actions": {"violence": "warn"}}
    )
    assert mapping is not None and mapping.actions == {"violence": "warn"}
    assert "gore tex" in mapping.classifiers[0].allowlist  # type: ignore[attr-defined]
    listed = build_chain(
        {
            "classifiers": ["rules", {"classifier": f"{HERE}:Shouty"}],
            "thresholds": {"shouting": 0.5},
            "default_action": "warn",
        }
    )
    assert listed is not None and [c.name for c in listed.classifiers] == ["rules", "shouty"]
    assert listed.default_action == "warn"
    plain = build_chain(["rules", f"{HERE}:Shouty"])
    assert plain is not None and len(plain.classifiers) == 2
    with pytest.raises(ConfigError, match="unexpected keys"):
        build_chain({"classifiers": ["rules"], "allowlist": []})
    with pytest.raises(ConfigError, match="list of classifiers"):
        build_chain({"classifiers": "rules"})
