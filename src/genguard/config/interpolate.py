"""``${VAR}`` and ``${VAR:-default}`` in config strings, resolved per profile.

Interpolation runs on the resolved profile only, so a variable that just the
``prod`` profile needs does not have to be set to run ``dev``. ``$$`` writes a
literal ``$``. A whole-string reference keeps the string type; YAML typing of
the result (``${N:-4}`` becoming the number 4) is left to the schema, which
coerces numeric strings where a number is expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import ConfigError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\$\$|\$\{(?P<body>[^}]*)\}")
_REF = re.compile(rf"(?P<name>{_NAME})(?::-(?P<default>.*))?", re.DOTALL)
#: A string that is exactly one reference with no default, e.g. ``${GEMINI_API_KEY}``.
WHOLE_REF = re.compile(rf"\$\{{({_NAME})\}}")


def interpolate(text: str, env: Mapping[str, str], path: str) -> str:
    """Replace every reference in ``text``; a ConfigError names ``path`` and the variable.

    A ``$`` not followed by ``{`` or ``$`` is kept as is (prices, regexes).
    """
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        _check_literal(text[pos : match.start()], path)
        out.append(text[pos : match.start()])
        pos = match.end()
        body = match.group("body")
        if body is None:
            out.append("$")
            continue
        ref = _REF.fullmatch(body)
        if ref is None:
            raise ConfigError(
                path,
                f"invalid reference ${{{body}}}: use ${{NAME}} or ${{NAME:-default}} "
                "(NAME is letters, digits and _)",
            )
        name, default = ref.group("name"), ref.group("default")
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(
                    path,
                    f"environment variable {name} is not set "
                    f"(set it, or write ${{{name}:-default}})",
                )
            value = default
        out.append(value)
    _check_literal(text[pos:], path)
    out.append(text[pos:])
    return "".join(out)


def _check_literal(segment: str, path: str) -> None:
    if "${" in segment:
        raise ConfigError(path, "unterminated reference: '${' without a closing '}'")


__all__ = ["WHOLE_REF", "interpolate"]
