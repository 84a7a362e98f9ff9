"""``genguard models`` (list the catalogue) and ``genguard models check FILE`` (flag retired
or unknown models in a policy file), registered by the main CLI."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Commands, Output
from ..errors import ConfigError
from .policy import parse_policy
from .spec import ModelSpec, price_view
from .store import Catalogue

#: Default model of each provider type when a profile names none (the schema's defaults).
_DEFAULT_MODELS = {
    "gemini": "gemini-2.5-flash-image",
    "openai": "gpt-image-1",
    "imagen": "imagen-4.0-generate-001",
}


def register(commands: Commands) -> None:
    """Add ``genguard models`` (``list``, the default, and ``check FILE``)."""
    parser = commands.add(
        "models",
        run,
        help="list the model catalogue, or check a policy file's models",
        description="'genguard models' lists every model genguard knows: provider, status "
        "(preview, ga, deprecated, retired), retirement date and successor, capabilities "
        "and prices. 'genguard models check FILE' judges the model of every profile in a "
        "policy file (its 'catalogue:' section applied): exit 1 when any is retired or "
        "unknown or belongs to another provider, 2 for a bad file.",
    )
    parser.add_argument("action", nargs="?", choices=("list", "check"), default="list")
    parser.add_argument("file", nargs="?", type=Path, help="policy file (for check)")
    parser.add_argument("--provider", default=None, help="list only this provider's models")
    parser.add_argument(
        "--on", default=None, help="judge lifecycle on this date, YYYY-MM-DD (default: today)"
    )


def run(args: argparse.Namespace, output: Output) -> int:
    on = _day(args.on)
    if args.action == "check":
        if args.file is None:
            raise CommandError("models check needs a policy file", exit_code=EXIT_USAGE)
        return _run_check(args.file, on, output)
    if args.file is not None:
        raise CommandError("a file is only taken by 'models check'", exit_code=EXIT_USAGE)
    from .store import default_catalogue

    catalogue = default_catalogue()
    specs = [s for s in catalogue if args.provider is None or s.provider == args.provider]
    data = {
        "as_of": catalogue.as_of.isoformat(),
        "on": on.isoformat(),
        "models": [s.to_dict(on) for s in specs],
    }
    output.result(data, list_models(catalogue, on, provider=args.provider))
    return EXIT_OK


def _day(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--on must be a YYYY-MM-DD date, got {value!r}") from None


# -- genguard models -------------------------------------------------------------------------


def capability_summary(spec: ModelSpec) -> str:
    """One line: sizes or ratios, image sizes, n, edits, streaming, batch, tiers."""
    caps = spec.capabilities
    parts: list[str] = []
    if caps.free_size is not None:
        parts.append(f"size WxH (/{caps.free_size.multiple}, <= {caps.free_size.max_side})")
    elif caps.sizes:
        parts.append("size " + "|".join(caps.sizes))
    if caps.aspect_ratios:
        parts.append(f"{len(caps.aspect_ratios)} ratios")
    if caps.image_sizes:
        parts.append("image " + "|".join(caps.image_sizes))
    parts.append(f"n {caps.n_min}-{caps.n_max}" if caps.n_max > caps.n_min else "n 1")
    if caps.edits:
        parts.append(f"edits <= {caps.max_input_images}" + (" +mask" if caps.mask else ""))
    flags = [
        name for name, on in (("stream", caps.streaming), ("batch", caps.batch)) if on
    ]  # fmt: skip
    if caps.service_tiers:
        flags.append("tiers " + "|".join(caps.service_tiers))
    return ", ".join(parts + flags)


def price_summary(spec: ModelSpec) -> str:
    """The headline prices: USD per 1M tokens by kind, or per image."""
    view = price_view(spec.prices)
    if not view:
        return "-"
    tokens = view.get("tokens") or {}
    short = {"text_input": "in", "image_input": "img in", "image_output": "img out"}
    shown = [f"{label} ${tokens[k]}" for k, label in short.items() if k in tokens]
    if shown:
        return "/1M: " + ", ".join(shown)
    per_image = view.get("per_image") or {}
    flat = sorted({str(v) for qualities in per_image.values() for v in qualities.values()})
    if flat:
        low, high = flat[0], flat[-1]
        return f"${low}/image" if low == high else f"${low}-{high}/image"
    return "-"


def _row(spec: ModelSpec, on: date) -> dict[str, Any]:
    life = spec.lifecycle
    return {
        "name": spec.name,
        "provider": spec.provider,
        "status": spec.status(on),
        "retirement": life.retirement.isoformat() if life.retirement else None,
        "successor": life.successor,
        "capabilities": capability_summary(spec),
        "prices": price_summary(spec),
    }


def table(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> str:
    """A plain-text table, one row per line, columns padded to their widest cell."""
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def list_models(catalogue: Catalogue, on: date, *, provider: str | None = None) -> str:
    """The catalogue as a table, with the date it was checked and the date judged on."""
    specs = [s for s in catalogue if provider is None or s.provider == provider]
    columns = ("name", "provider", "status", "retirement", "successor", "capabilities", "prices")
    note = f"catalogue checked {catalogue.as_of.isoformat()}; status on {on.isoformat()}"
    return table((_row(s, on) for s in specs), columns) + "\n\n" + note


# -- genguard models check FILE --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One profile's model, judged: ``level`` is ok, warn (deprecated) or error."""

    profile: str
    provider: str
    model: str
    level: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "profile": self.profile,
            "provider": self.provider,
            "model": self.model,
            "level": self.level,
            "message": self.message,
        }


def _profile_model(
    body: Mapping[str, Any], env: Mapping[str, str], path: str
) -> tuple[str, str] | None:
    """The provider kind and model a profile uses, ``${VAR:-default}`` resolved from ``env``
    (a variable that is not set and has no default leaves the text as written)."""
    from ..config.interpolate import interpolate

    provider = body.get("provider")
    if not isinstance(provider, Mapping):
        return None
    kind = provider.get("type")
    if kind == "sim":
        kind = provider.get("api", "gemini")
    if not isinstance(kind, str) or kind not in _DEFAULT_MODELS:
        return None
    model = str(provider.get("model") or _DEFAULT_MODELS[kind])
    # A variable with no value and no default: judged as written (an unknown model).
    with contextlib.suppress(ConfigError):
        model = interpolate(model, env, path)
    return kind, model


def judge(catalogue: Catalogue, profile: str, kind: str, model: str, on: date) -> Finding:
    spec = catalogue.get(model)
    if spec is None:
        from ..errors import UnknownModel

        try:
            catalogue.resolve(model)
        except UnknownModel as error:
            return Finding(profile, kind, model, "error", f"unknown model: {error.message}")
    assert spec is not None
    if spec.provider != kind:
        text = f"{model} is served by {spec.provider}, not by {kind}"
        return Finding(profile, kind, model, "error", text)
    status = spec.status(on)
    life = spec.lifecycle
    live = catalogue.successor(spec.name, on)
    successor = live.name if live is not None else life.successor
    if status == "retired":
        when = f" on {life.retirement.isoformat()}" if life.retirement else ""
        then = f"; use {successor}" if successor else ""
        return Finding(profile, kind, model, "error", f"retired{when}{then}")
    if status == "deprecated":
        assert life.retirement is not None
        then = f"; move to {successor}" if successor else ""
        text = f"retires on {life.retirement.isoformat()}{then}"
        return Finding(profile, kind, model, "warn", text)
    return Finding(profile, kind, model, "ok", status)


def check_file(path: Path, on: date, env: Mapping[str, str] | None = None) -> list[Finding]:
    """Every profile's model in the policy file at ``path``, judged on ``on``
    (``${VAR}`` in a model name read from ``env``, the process environment by default)."""
    from ..config.loader import load_config, merged_profile

    environ = os.environ if env is None else env
    config = load_config(path, env={})
    catalogue = parse_policy(config.catalogue).catalogue
    findings: list[Finding] = []
    for name in config.profiles:
        where = f"profiles.{name}.provider.model"
        found = _profile_model(merged_profile(config, name), environ, where)
        if found is not None:
            findings.append(judge(catalogue, name, found[0], found[1], on))
    return findings


def _run_check(file: Path, on: date, output: Output) -> int:
    if not file.exists():
        raise CommandError(f"no such file: {file}", exit_code=EXIT_USAGE)
    findings = check_file(file, on)
    rows = [f.to_dict() for f in findings]
    bad = sum(1 for f in findings if f.level == "error")
    human = table(rows, ("profile", "provider", "model", "level", "message"))
    summary = f"{bad} of {len(findings)} profile(s) use a retired or unknown model"
    data = {"file": str(file), "on": on.isoformat(), "findings": rows, "errors": bad}
    if bad:
        if not output.json:
            print(human + "\n", file=output.stdout)
        raise CommandError(f"{file}: {summary}", exit_code=EXIT_FAILED, details=data)
    output.result(data, [human, "", summary])
    return EXIT_OK


__all__ = [
    "Finding",
    "capability_summary",
    "check_file",
    "judge",
    "list_models",
    "price_summary",
    "register",
    "run",
    "table",
]
