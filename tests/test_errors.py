"""The error tree and secret redaction."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from genguard import errors


def test_tree_shape_and_retryability() -> None:
    assert issubclass(errors.ProviderUnavailable, errors.ProviderError)
    assert issubclass(errors.BadRequest, errors.ProviderError)
    assert issubclass(errors.AuthenticationError, errors.ProviderError)
    for cls in (
        errors.ContentBlocked,
        errors.QuotaExhausted,
        errors.ResponseError,
        errors.ConfigError,
    ):
        assert issubclass(cls, errors.GenGuardError)
    assert errors.RateLimited("x").retryable
    assert errors.ProviderUnavailable("x").retryable
    assert errors.AttemptTimeout("x", timeout=1).retryable
    assert not errors.BadRequest("x").retryable
    assert not errors.QuotaExhausted("x").retryable
    assert errors.ProviderError("x", retryable=True).retryable
    blocked = errors.ContentBlocked("no", stage="input", category="hate", source="classifier")
    assert not blocked.retryable and blocked.stage == "input"


def test_config_error_carries_path_and_reason() -> None:
    err = errors.ConfigError("profiles.prod.layers[2].retry.attempts", "must be >= 1")
    assert str(err) == "profiles.prod.layers[2].retry.attempts: must be >= 1"
    both = errors.ConfigErrors([err, errors.ConfigError("version", "must be 1")])
    assert "version: must be 1" in str(both) and len(both.errors) == 2


def test_redact_removes_given_secrets_and_key_shapes() -> None:
    text = (
        "key sk-proj-abcdefghijkl and AIzaSyA1234567890abcdefghijklmn "
        "and Bearer tok_1234567890 and mine"
    )
    out = errors.redact(text, "mine")
    assert "sk-proj-abcdefghijkl" not in out and "AIzaSy" not in out and "tok_1234567890" not in out
    assert "mine" not in out and "Bearer ***" in out


@given(st.text(), st.text(min_size=8, alphabet=st.characters(min_codepoint=48, max_codepoint=122)))
def test_redact_never_leaves_the_secret(prefix: str, secret: str) -> None:
    assert secret not in errors.redact(prefix + secret + prefix, secret)


def test_a_provider_error_counts_against_the_breaker_exactly_when_its_status_is_5xx() -> None:
    """The status decides, whatever the class: a 500 the parser could not place still
    says the provider is unhealthy; a 4xx or no status says nothing about its health."""
    for status in (500, 502, 599):
        assert errors.ProviderError("x", status=status).breaker_failure, status
        assert errors.BadRequest("x", status=status).breaker_failure, status
    for status in (None, 400, 429, 499, 600):
        assert not errors.ProviderError("x", status=status).breaker_failure, status
