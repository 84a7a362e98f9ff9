"""API keys come from the environment or a file, never from the config text itself.

A config file is shared, reviewed and committed; a key written into it leaks.
So ``api_key`` accepts only ``${ENV_VAR}``, ``{env: NAME}`` or ``{file: path}``
(a mounted secret, e.g. Kubernetes or Docker secrets), and a literal value is
an error. The value lives in a :class:`Secret` whose repr, str and serialised
form are ``***``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from ..files import FileRefused, read_bounded
from .interpolate import WHOLE_REF, interpolate

MASK = "***"
#: A secret file holds one key: anything bigger is not a key file.
MAX_SECRET_FILE_BYTES = 64 * 1024
SecretSource = Literal["env", "file", "value"]


class Secret:
    """A secret value and where it came from. Shown as ``***`` everywhere."""

    __slots__ = ("_value", "ref", "source")

    def __init__(self, value: str, *, source: SecretSource = "value", ref: str = "") -> None:
        self._value = value
        self.source: SecretSource = source
        self.ref = ref

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str], path: str = "") -> Secret:
        value = env.get(name)
        if not value:
            raise ConfigError(path, f"environment variable {name} is not set (it holds a secret)")
        return cls(value, source="env", ref=name)

    @classmethod
    def from_file(cls, file: str, path: str = "", *, base: Path | None = None) -> Secret:
        """Read a mounted secret: a regular file of at most ``MAX_SECRET_FILE_BYTES``.

        A relative name is read inside ``base`` (the config file's directory) and may
        not leave it; an absolute name is read inside its own directory, so a
        symlink cannot lead elsewhere (Kubernetes' ``..data`` links stay inside).
        FIFOs, devices and ``/proc``-style files that exceed the cap are refused.
        """
        target = Path(file).expanduser()
        if target.is_absolute():
            root, name = target.parent, target.name
        else:
            root, name = (base if base is not None else Path.cwd()), str(target)
        try:
            data = read_bounded(root, name, max_bytes=MAX_SECRET_FILE_BYTES)
        except FileRefused as exc:
            raise ConfigError(path, f"cannot read secret file {file!r} ({exc.reason})") from None
        try:
            value = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(path, f"secret file {file!r} is not UTF-8 text") from None
        if not value:
            raise ConfigError(path, f"secret file {file!r} is empty")
        if not value.isprintable():
            # A key is one line of printable text; a file with NULs or several lines
            # (``/proc/self/environ``, a certificate, a dump) is not a key file.
            raise ConfigError(path, f"secret file {file!r} is not one line of printable text")
        return cls(value, source="file", ref=file)

    def get(self) -> str:
        """The secret itself; call only where it is handed to the provider."""
        return self._value

    def describe(self) -> str:
        """``*** (env GEMINI_API_KEY)``: where the value came from, never the value."""
        return f"{MASK} ({self.source} {self.ref})" if self.ref else MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self._value, self.source, self.ref) == (other._value, other.source, other.ref)

    def __hash__(self) -> int:
        return hash((self.source, self.ref))

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    __str__ = __repr__


def resolve_secret(
    raw: object, env: Mapping[str, str], path: str, *, base: Path | None = None
) -> Secret:
    """Turn the raw (not yet interpolated) ``api_key`` value into a Secret, or refuse it."""
    if isinstance(raw, Secret):
        return raw
    if isinstance(raw, str):
        match = WHOLE_REF.fullmatch(raw.strip())
        if match is not None:
            return Secret.from_env(match.group(1), env, path)
        if "${" in raw:
            raise ConfigError(
                path,
                "a secret must be exactly ${ENV_VAR} (no default, no surrounding text) "
                "or {file: path}",
            )
        raise ConfigError(
            path,
            "a literal API key is not allowed in a config file; "
            "write ${ENV_VAR}, {env: NAME} or {file: path}",
        )
    if isinstance(raw, Mapping):
        keys = set(raw)
        if keys == {"env"} and isinstance(raw["env"], str):
            return Secret.from_env(raw["env"], env, path)
        if keys == {"file"} and isinstance(raw["file"], str):
            file = interpolate(raw["file"], env, f"{path}.file")
            return Secret.from_file(file, path, base=base)
        raise ConfigError(path, "a secret mapping must be {env: NAME} or {file: path}")
    raise ConfigError(path, "must be ${ENV_VAR}, {env: NAME} or {file: path}")


__all__ = ["MASK", "Secret", "SecretSource", "resolve_secret"]
