"""Policy profiles shipped inside the package, so a real key needs no policy file.

``production.yaml`` holds ``gemini`` and ``openai``: timeouts and backoff sized
for real image APIs (minutes per attempt, seconds between attempts).
``simulator.yaml`` holds ``sim`` and ``sim-openai``: simulator-scale settings that
say so in their description and must never face a real API.

``production_client("gemini")`` is the real-key path (``GEMINI_API_KEY`` from the
environment). ``production_client("gemini", simulator="realistic")`` keeps the
same production policy and puts the embedded simulator behind it: what a real
call would do, without a key or a bill.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from ..clock import Clock
from ..config.loader import ConfigFile, load_config, merged_profile, resolve_profile
from ..config.schema import ProfileConfig, layer_name
from ..config.validate import suggest, validate_profile
from ..errors import ConfigError
from ..factory import ConfiguredClient, build_client, build_layers, new_build
from ..observe import Observer
from ..providers.base import Provider

PRODUCTION = "production.yaml"
SIMULATOR = "simulator.yaml"
#: Shipped profile name -> the file that holds it.
SHIPPED: Mapping[str, str] = {
    "gemini": PRODUCTION,
    "openai": PRODUCTION,
    "sim": SIMULATOR,
    "sim-openai": SIMULATOR,
}
#: The environment variable that holds each production profile's key.
KEY_VARIABLES: Mapping[str, str] = {"gemini": "GEMINI_API_KEY", "openai": "OPENAI_API_KEY"}


def path(name: str = PRODUCTION) -> Path:
    """The file of a shipped profile set (``production.yaml`` or ``simulator.yaml``)."""
    if name not in (PRODUCTION, SIMULATOR):
        raise ConfigError("", f"no shipped profile file {name!r}; files: {PRODUCTION}, {SIMULATOR}")
    return Path(str(resources.files(__name__).joinpath(name)))


def file_of(profile: str) -> Path:
    """The shipped file holding ``profile``; an unknown name is a ConfigError with the list."""
    file = SHIPPED.get(profile)
    if file is None:
        raise ConfigError(
            "",
            f"unknown shipped profile {profile!r}{suggest(profile, SHIPPED)}; "
            f"shipped profiles: {', '.join(SHIPPED)}",
        )
    return path(file)


def is_simulator_scale(profile: ProfileConfig) -> bool:
    """Whether a profile's provider is the embedded simulator (so its timings may be tiny)."""
    return profile.provider.type == "sim"


def load(name: str, *, env: Mapping[str, str] | None = None) -> ProfileConfig:
    """The validated shipped profile ``name`` (reads its key variable from ``env``)."""
    return resolve_profile(load_config(file_of(name), env=env), name, env=env)


def with_simulator(
    config: ConfigFile,
    name: str,
    simulator: str,
    *,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ProfileConfig:
    """Profile ``name`` of ``config`` with its provider replaced by the embedded simulator.

    The layers, deadline and transport stay as written; no key is read. The
    simulator speaks the profile's wire format (``gemini`` or ``openai``) and
    answers under fault profile ``simulator`` (``clean``, ``flaky``, ``realistic``...).
    """
    raw = dict(merged_profile(config, name))
    provider = raw.get("provider")
    api = provider.get("type") if isinstance(provider, Mapping) else None
    if api not in ("gemini", "openai"):
        api = provider.get("api", "gemini") if isinstance(provider, Mapping) else "gemini"
    raw["provider"] = {
        "type": "sim",
        "api": api,
        "profile": simulator,
        "options": dict(options or {}),
    }
    if isinstance(provider, Mapping) and provider.get("model") is not None:
        raw["provider"]["model"] = provider["model"]
    environ = os.environ if env is None else env
    return validate_profile(name, raw, path=f"profiles.{name}", env=environ, base=config.base_dir)


def production_client(
    name: str = "gemini",
    *,
    simulator: str | None = None,
    simulator_options: Mapping[str, Any] | None = None,
    provider: Provider | None = None,
    observer: Observer | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    meter_provider: Any = None,
) -> ConfiguredClient:
    """A client on shipped profile ``name`` (``gemini``, ``openai``, or a ``sim`` one).

    With ``simulator`` set (a fault profile name), the same policy runs against
    the embedded simulator instead of the real API, and no key is needed. With
    ``provider`` (e.g. ``OpenAISDKProvider(your_client)``), the profile's layers,
    deadline and transport wrap that provider instead, and no key is read either.
    ``meter_provider`` feeds the telemetry layer (see ``build_client``).
    """
    file = file_of(name)
    config = load_config(file, env=env)
    if provider is not None:
        return _around(provider, config, name, observer=observer, clock=clock, env=env)
    if simulator is not None:
        profile = with_simulator(config, name, simulator, env=env, options=simulator_options)
    else:
        profile = resolve_profile(config, name, env=env)
    return build_client(
        profile,
        config=config,
        observer=observer,
        clock=clock,
        env=env,
        meter_provider=meter_provider,
    )


def layers_of(name: str, *, telemetry: bool = True) -> list[Any]:
    """The layers of shipped profile ``name``, built without its provider (no key is read).

    ``telemetry=False`` leaves out the profile's telemetry layer. The layers hold no
    resources when the profile's state is in memory, as every shipped profile's is."""
    config = load_config(file_of(name))
    profile = with_simulator(config, name, "clean")
    if not telemetry:
        profile = profile.model_copy(
            update={"layers": tuple(x for x in profile.layers if layer_name(x) != "telemetry")}
        )
    return build_layers(profile, new_build(config), path=f"profiles.{name}")


def _around(
    provider: Provider,
    config: ConfigFile,
    name: str,
    *,
    observer: Observer | None,
    clock: Clock | None,
    env: Mapping[str, str] | None,
) -> ConfiguredClient:
    """Profile ``name``'s layers, deadline and transport around a provider built elsewhere
    (an SDK adapter): no key is read, and the profile's own provider is never started."""
    profile = with_simulator(config, name, "clean", env=env)
    built = build_client(profile, config=config, observer=observer, clock=clock, env=env)
    return ConfiguredClient(
        provider,
        built.layers,
        deadline=built.deadline,
        observer=observer,
        clock=clock,
        transport=built.transport,
        profile=profile,
        context=built.context,
    )


class MissingKey(ConfigError):
    """No key for the real API, and neither a policy file nor the simulator was asked for.

    ``variable`` is the environment variable that would hold the key.
    """

    def __init__(self, variable: str, message: str) -> None:
        super().__init__("", message)
        self.variable = variable


#: The shipped production profiles, in the order a key picks them.
APIS = ("gemini", "openai")


def default_client(
    *,
    config: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    api: str | None = None,
    simulator: str | None = None,
    observer: Observer | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> ConfiguredClient:
    """The client a script gets without set-up, from a policy file or the environment.

    1. ``config`` (or ``$GENGUARD_CONFIG``): its ``profile`` (or ``$GENGUARD_PROFILE``,
       then ``default``).
    2. Otherwise the shipped profile ``profile``, or the production profile of ``api``,
       or of whichever key is set (``GEMINI_API_KEY`` first, then ``OPENAI_API_KEY``).

    ``simulator`` (a fault profile name) keeps the chosen policy and puts the embedded
    simulator behind it. Without a key, a file or ``simulator``: ``MissingKey``,
    whose message says how to go on.
    """
    from ..factory import ENV_CONFIG, ENV_PROFILE

    environ = os.environ if env is None else env
    file = config if config is not None else environ.get(ENV_CONFIG) or None
    if file is not None:
        name = profile or environ.get(ENV_PROFILE) or "default"
        if not Path(file).exists():
            raise ConfigError("", f"no such config file: {file}")
        loaded = load_config(Path(file), env=environ)
        if simulator is not None:
            resolved = with_simulator(loaded, name, simulator, env=environ)
        else:
            resolved = resolve_profile(loaded, name, env=environ)
        return build_client(resolved, config=loaded, observer=observer, clock=clock, env=env)
    if profile is None:
        if api is not None and api not in APIS:
            raise ConfigError("", f"unknown API {api!r}; choose from {', '.join(APIS)}")
        profile = api or next((a for a in APIS if environ.get(KEY_VARIABLES[a])), APIS[0])
    file_of(profile)  # an unknown name is a ConfigError listing the shipped ones
    variable = KEY_VARIABLES.get(profile)
    if simulator is None and variable is not None and not environ.get(variable):
        other = next(a for a in APIS if a != profile)
        raise MissingKey(
            variable,
            f"no {variable} set. Set {variable} to call the real {profile} API "
            f"(or {KEY_VARIABLES[other]} for {other}), point GENGUARD_CONFIG at a policy "
            'file, or ask for the embedded simulator (simulator="clean"; --sim on the '
            "command line)",
        )
    return production_client(profile, simulator=simulator, observer=observer, clock=clock, env=env)


__all__ = [
    "APIS",
    "KEY_VARIABLES",
    "PRODUCTION",
    "SHIPPED",
    "SIMULATOR",
    "MissingKey",
    "default_client",
    "file_of",
    "is_simulator_scale",
    "layers_of",
    "load",
    "path",
    "production_client",
    "with_simulator",
]
