"""Thought signatures for Gemini 3 image models: opaque to clients, checkable by us.

A signature is base64(tag + nonce + HMAC(secret, nonce)). Checking it needs no
table of issued values, so a long benchmark does not grow memory, and a
signature from another simulator (or a hand-written one) is "invalid".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_TAG = b"ggs1"
_NONCE = 12
_MAC = 16


class SignatureIssuer:
    """Issues and verifies signatures; the secret derives from the seed, so a
    simulator restarted with the same seed accepts the same signatures."""

    def __init__(self, seed: int = 0) -> None:
        self._secret = hashlib.sha256(f"genguard-sim-signatures:{seed}".encode()).digest()

    def issue(self, context: str) -> str:
        nonce = hashlib.sha256(context.encode()).digest()[:_NONCE]
        mac = hmac.new(self._secret, nonce, hashlib.sha256).digest()[:_MAC]
        return base64.b64encode(_TAG + nonce + mac).decode("ascii")

    def valid(self, signature: object) -> bool:
        if not isinstance(signature, str) or len(signature) > 256:
            return False
        try:
            # proto3 JSON takes bytes in either base64 alphabet (the google-genai SDK
            # sends the URL-safe one), so the simulator does too
            raw = base64.b64decode(signature.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(raw) != len(_TAG) + _NONCE + _MAC or not raw.startswith(_TAG):
            return False
        nonce = raw[len(_TAG) : len(_TAG) + _NONCE]
        expected = hmac.new(self._secret, nonce, hashlib.sha256).digest()[:_MAC]
        return hmac.compare_digest(expected, raw[len(_TAG) + _NONCE :])
