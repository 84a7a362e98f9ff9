"""API keys as applications hold them: a ``str``, a pydantic ``SecretStr``, or genguard's
``Secret``. Whatever the wrapper, the text is taken out once, where it is handed to
the provider, and never shown: reprs, messages and logs mask it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SecretStrLike(Protocol):
    """pydantic's ``SecretStr`` (and anything shaped like it)."""

    def get_secret_value(self) -> str: ...


@runtime_checkable
class SecretLike(Protocol):
    """genguard's ``Secret`` (config files) and the providers' masked holders."""

    def get(self) -> str: ...


ApiKey = str | SecretStrLike | SecretLike


def key_text(value: object, what: str = "api_key") -> str:
    """The key inside ``value``; ``ValueError`` when it is empty or of another type
    (the message names the type, never the value)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, SecretStrLike):
        text = value.get_secret_value()
    elif isinstance(value, SecretLike):
        text = value.get()
    else:
        raise ValueError(
            f"{what} must be a str, a pydantic SecretStr or a genguard Secret, "
            f"got {type(value).__name__}"
        )
    if not isinstance(text, str) or not text:
        raise ValueError(f"{what} must be a non-empty string")
    return text


__all__ = ["ApiKey", "SecretLike", "SecretStrLike", "key_text"]
