"""The one factory: ProfileConfig -> provider, layers and a Client.

Files and the builder both end here, so there is one path from policy to
pipeline. Layer modules are imported only when a stack uses them; a layer whose
module is not installed is a ConfigError naming the layer, not an ImportError.
Everything the factory starts (simulator, metrics server, HTTP session) is
owned by the returned client and stopped by ``aclose``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .clock import Clock
from .config.checks import StackOrderWarning, check_order
from .config.loader import ConfigFile, load_config, resolve_profile
from .config.plugins import (
    CLASSIFIERS,
    LAYER_MODULES,
    layer_available,
    layer_class,
    load,
    load_custom_layer,
)
from .config.schema import (
    BudgetLayerConfig,
    CircuitBreakerLayerConfig,
    ClassifierConfig,
    CustomLayerConfig,
    FallbackLayerConfig,
    GeminiProviderConfig,
    ImagenProviderConfig,
    LayerConfig,
    OpenAIProviderConfig,
    ProfileConfig,
    ProviderConfig,
    RateLimitLayerConfig,
    SafetyLayerConfig,
    SimProviderConfig,
    TelemetryLayerConfig,
    layer_name,
)
from .config.secrets import Secret
from .errors import ConfigError, ConfigErrors
from .model import GenerationRequest
from .observe import Observer
from .pipeline import Client, Layer
from .providers.base import Provider
from .providers.sim_backed import SimBackedProvider
from .providers.transport import HttpTransport
from .state.resource import Resource
from .streaming import ImageStream, StreamOptions

if TYPE_CHECKING:
    pass

_R = TypeVar("_R", bound=Resource)

ENV_CONFIG = "GENGUARD_CONFIG"
ENV_PROFILE = "GENGUARD_PROFILE"
DEFAULT_PROFILE = "default"


def _module(name: str, path: str, what: str) -> Any:
    """Import ``name``; a missing module becomes ``ConfigError(path, "... is not available")``."""
    return load(name, path, what)


def _attr(module: Any, attr: str, path: str, what: str) -> Any:
    value = getattr(module, attr, None)
    if value is None:
        raise ConfigError(path, f"{what} is not available ({module.__name__}.{attr} is missing)")
    return value


def _construct(factory: Callable[..., Any], path: str, *args: Any, **kwargs: Any) -> Any:
    """Call a constructor; its own errors come back as ConfigErrors at ``path``."""
    try:
        return factory(*args, **kwargs)
    except ConfigErrors:
        raise
    except ConfigError as exc:
        sub = exc.path.split(".", 1)[1] if "." in exc.path else ""
        raise ConfigError(f"{path}.{sub}" if sub else path, exc.reason) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(path, str(exc)) from None


# -- providers -------------------------------------------------------------------------------


_PROVIDER_CLASSES = {
    "gemini": "GeminiProvider",
    "openai": "OpenAIProvider",
    "imagen": "ImagenProvider",
}


def build_provider(config: ProviderConfig, path: str, catalogue: Any = None) -> Provider:
    """The provider for ``config``; a ``sim`` provider is a :class:`SimBackedProvider`.

    ``catalogue`` is the file's ``CataloguePolicy`` (the defaults when None): the
    provider checks every request against it before sending.
    """
    if isinstance(config, SimProviderConfig):
        module = _module(f"genguard.providers.{config.api}", path, f"provider {config.api}")
        simulator = load("genguard.sim:Simulator", path, "the simulator")

        def make_simulator() -> Any:
            return _construct(simulator, path, profile=config.profile, **config.options)

        return SimBackedProvider(
            _attr(module, _PROVIDER_CLASSES[config.api], path, "provider"),
            name=config.api,
            model=config.model or str(getattr(module, "DEFAULT_MODEL", "")),
            profile=config.profile,
            make_simulator=make_simulator,
            catalogue=catalogue,
        )
    assert isinstance(config, GeminiProviderConfig | OpenAIProviderConfig | ImagenProviderConfig)
    kind = config.type
    module = _module(f"genguard.providers.{kind}", path, f"provider {kind}")
    cls = _attr(module, _PROVIDER_CLASSES[kind], path, f"provider {kind}")
    try:
        provider: Provider = cls(
            config.api_key.get(),
            model=config.model,
            base_url=config.base_url,
            catalogue=catalogue,
            **config.options,
        )
    except TypeError as exc:
        raise ConfigError(f"{path}.options", str(exc)) from None
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None
    return provider


# -- layers ----------------------------------------------------------------------------------


#: Most fallback stacks one client builds (every target, targets of targets included).
MAX_FALLBACK_STACKS = 64


class BuildContext:
    """What building one client shares, passed explicitly to every builder.

    The config file (fallback names its profiles), ``env`` for ``${VAR}``, the clock
    and observer the layers and stores report to, the one HTTP transport, the meter
    provider of an application's exporter, and ``resources``: one ``AsyncExitStack``
    that owns every resource the build makes (the transport, embedded simulators,
    Redis stores, the metrics server), closed in reverse by the client's ``aclose``.
    """

    def __init__(
        self,
        config: ConfigFile | None = None,
        *,
        transport: HttpTransport | None = None,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        observer: Observer | None = None,
        meter_provider: Any = None,
    ) -> None:
        self.config = config
        self.transport = transport if transport is not None else HttpTransport()
        self.clock = clock
        self.env = env
        self.observer = observer
        self.meter_provider = meter_provider
        self.resources = contextlib.AsyncExitStack()
        self.resources.push_async_callback(self.transport.aclose)
        #: Started by the client's ``async with`` (an embedded simulator starts eagerly).
        self._starts: list[Callable[[], Awaitable[None]]] = []
        #: Closed at once if the build fails (before any loop ran): a metrics server.
        self._sync_closers: list[Callable[[], None]] = []
        #: The file's ``catalogue:`` policy, parsed once (providers and fallback share it).
        self.catalogue: Any = None
        #: Fallback stacks built so far: a fallback graph is expanded into a tree, so a
        #: hostile lattice of profiles would build exponentially many without a cap.
        self.fallback_stacks = 0

    def own(self, resource: _R) -> _R:
        """Give ``resource`` (an async context manager: a store, an embedded simulator,
        the metrics server) to the exit stack; the client's ``aclose`` closes it, last
        built first."""
        self.resources.push_async_exit(resource)
        return resource

    def on_enter(self, start: Callable[[], Awaitable[None]], *, first: bool = False) -> None:
        """Run ``start`` when the client is entered (``first``: before the others)."""
        if first:
            self._starts.insert(0, start)
        else:
            self._starts.append(start)

    def on_abandon(self, close: Callable[[], None]) -> None:
        """Run ``close`` at once if the build fails (before any loop ran to close it)."""
        self._sync_closers.append(close)

    async def start(self) -> None:
        """Start what needs starting (the client's ``__aenter__``)."""
        for start in self._starts:
            await start()

    def abandon(self) -> None:
        """A failed build: close at once what can be closed without a loop."""
        for close in reversed(self._sync_closers):
            close()


def new_build(config: ConfigFile | None = None, *, clock: Clock | None = None) -> BuildContext:
    """A build context with a fresh transport, for building layers outside ``build_client``."""
    return BuildContext(config, clock=clock)


def build_layers(
    profile: ProfileConfig, build: BuildContext, *, path: str, for_fallback: bool = False
) -> list[Layer]:
    layers: list[Layer] = []
    for index, layer in enumerate(profile.layers):
        where = f"{path}.layers[{index}].{layer_name(layer)}"
        if for_fallback and isinstance(layer, TelemetryLayerConfig):
            continue  # the primary's telemetry already sees the whole call
        layers.append(_build_layer(layer, profile, build, where))
    return layers


def _build_layer(layer: LayerConfig, profile: ProfileConfig, build: BuildContext, path: str) -> Any:
    name = layer_name(layer)
    if isinstance(layer, CustomLayerConfig):
        try:
            factory = load_custom_layer(layer.name)
        except ConfigError as exc:
            raise ConfigError(path, exc.reason) from None
        built = _construct(factory, path, **layer.options)
        if not callable(built):
            raise ConfigError(path, f"entry point {layer.name!r} did not return a layer")
        return built
    cls = layer_class(name, path)
    if isinstance(layer, CircuitBreakerLayerConfig):
        return cls(layer, store=_breaker_store(profile, build, path), clock=build.clock)
    if isinstance(layer, RateLimitLayerConfig):
        return cls(layer, backend=_limiter_backend(profile, build, path), clock=build.clock)
    if isinstance(layer, TelemetryLayerConfig):
        return cls(
            layer, service_name=profile.telemetry.service_name, meter_provider=build.meter_provider
        )
    if isinstance(layer, FallbackLayerConfig):
        return _fallback(cls, layer, profile, build, path)
    if isinstance(layer, SafetyLayerConfig):
        return _safety(cls, layer, profile, build, path)
    if isinstance(layer, BudgetLayerConfig):
        return _budget(cls, layer, profile, build, path)
    if isinstance(layer, cls.options_model):
        return cls(layer)  # a layer that needs nothing from the build: its options are all
    raise ConfigError(path, f"layer {name} is not available")  # pragma: no cover


def _breaker_store(profile: ProfileConfig, build: BuildContext, path: str) -> Any:
    state = profile.state
    if state.backend == "memory":
        return None
    module = _module("genguard.state.redis", f"{path}", "state backend redis")
    factory = getattr(module, "RedisBreakerStore", None)
    if factory is None:
        raise ConfigError(
            f"profiles.{profile.name}.state.backend", "state backend redis is not available"
        )
    return _redis(factory, state, build, f"profiles.{profile.name}.state")


def _limiter_backend(profile: ProfileConfig, build: BuildContext, path: str) -> Any:
    state = profile.state
    if state.backend == "memory":
        return None
    module = _module("genguard.state.redis", path, "state backend redis")
    factory = getattr(module, "RedisLimiterBackend", None)
    if factory is None:
        raise ConfigError(
            f"profiles.{profile.name}.state.backend", "state backend redis is not available"
        )
    return _redis(factory, state, build, f"profiles.{profile.name}.state")


def _redis(factory: Any, state: Any, build: BuildContext, path: str) -> Any:
    """A Redis-backed store; it may expose ``from_url`` or take ``url`` directly."""
    options: dict[str, Any] = {
        "namespace": state.namespace,
        "on_backend_error": state.on_backend_error,
        "connect_timeout": state.connect_timeout,
        "command_timeout": state.command_timeout,
    }
    if build.observer is not None:
        options["observer"] = build.observer
    maker = getattr(factory, "from_url", None) or factory
    store = _construct(maker, path, url=state.url, **options)
    return build.own(store)


def _budget(
    cls: Any, layer: BudgetLayerConfig, profile: ProfileConfig, build: BuildContext, path: str
) -> Any:
    store = None
    if profile.state.backend != "memory":
        redis_module = _module("genguard.state.redis_budget", path, "state backend redis")
        factory = _attr(redis_module, "RedisBudgetStore", path, "the Redis budget store")
        store = _redis(factory, profile.state, build, f"profiles.{profile.name}.state")
    return _construct(cls, path, layer, store=store, prices=_prices(profile))


def _prices(profile: ProfileConfig) -> Any:
    """The profile's price book: the shipped prices with its ``prices:`` overrides."""
    if not profile.prices:
        return None
    from .catalogue.prices import default_prices

    return default_prices().with_overrides(profile.prices, f"profiles.{profile.name}.prices")


def _fallback(
    cls: Any, layer: FallbackLayerConfig, profile: ProfileConfig, build: BuildContext, path: str
) -> Any:
    if build.config is None:
        raise ConfigError(path, "fallback names profiles, so it needs a config file")
    target_cls = load("genguard.layers.fallback:FallbackTarget", path, "layer fallback")
    targets = []
    for name in layer.to:
        build.fallback_stacks += 1
        if build.fallback_stacks > MAX_FALLBACK_STACKS:
            raise ConfigError(
                path, f"the fallback graph expands to more than {MAX_FALLBACK_STACKS} stacks"
            )
        target = resolve_profile(build.config, name, env=build.env)
        provider = build_provider(target.provider, f"profiles.{name}.provider", build.catalogue)
        if isinstance(provider, SimBackedProvider):
            build.on_enter(build.own(provider).start)
        inner = build_layers(target, build, path=f"profiles.{name}", for_fallback=True)
        targets.append(target_cls(provider=provider, layers=tuple(inner)).route(build.transport))
    catalogue = build.catalogue.catalogue if build.catalogue is not None else None
    return _construct(cls, path, layer, targets=targets, catalogue=catalogue)


def _safety(
    cls: Any, layer: SafetyLayerConfig, profile: ProfileConfig, build: BuildContext, path: str
) -> Any:
    chains: dict[str, Any] = {}
    fallback_action = "block" if layer.on_block == "raise" else "warn"
    for stage in ("input", "output"):
        config: ClassifierConfig | None = getattr(layer, stage)
        chains[stage] = (
            None
            if config is None
            else _chain(config, fallback_action, profile, build, f"{path}.{stage}")
        )
    return _construct(cls, path, layer, **chains)


def _classifier_options(
    name: str, config: ClassifierConfig, profile: ProfileConfig, build: BuildContext
) -> dict[str, Any]:
    options = {k: v.get() if isinstance(v, Secret) else v for k, v in config.options.items()}
    if name == "moderation":
        options["transport"] = build.transport
        if build.clock is not None:
            options.setdefault("clock", build.clock)
        provider = profile.provider
        if isinstance(provider, OpenAIProviderConfig):
            options.setdefault("api_key", provider.api_key.get())
            options.setdefault("base_url", provider.base_url)
    return options


def _chain(
    config: ClassifierConfig, action: str, profile: ProfileConfig, build: BuildContext, path: str
) -> Any:
    chain_module = _module("genguard.safety.chain", path, "safety classifiers")
    names = (config.classifier,) if isinstance(config.classifier, str) else config.classifier
    classifiers = []
    for name in names:
        factory = load(CLASSIFIERS.get(name, name), f"{path}.classifier", f"classifier {name}")
        options = _classifier_options(name, config, profile, build)
        classifiers.append(_construct(factory, f"{path}.options", **options))
    return _construct(
        chain_module.ClassifierChain,
        path,
        classifiers=classifiers,
        thresholds=config.thresholds,
        actions=config.actions,
        default_action=config.default_action or action,
    )


# -- the client ------------------------------------------------------------------------------


class ConfiguredClient(Client):
    """A Client built from a profile; also owns what the factory started for it.

    ``profile`` is the ProfileConfig it was built from. ``async with`` starts an
    embedded simulator eagerly; ``aclose`` stops it, the metrics server and the
    HTTP session shared with fallback stacks.
    """

    def __init__(
        self, *args: Any, profile: ProfileConfig, context: BuildContext, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile
        #: The build context: its exit stack owns everything the factory started.
        self.context = context
        #: The profile's ``stream`` section: what ``stream()`` uses unless a call says otherwise.
        self.stream_options: StreamOptions = profile.stream

    def stream(
        self,
        request: GenerationRequest | str,
        *,
        settings: StreamOptions | None = None,
        **fields: Any,
    ) -> ImageStream:
        """``Client.stream`` with the profile's ``stream`` section as the default settings."""
        return super().stream(request, settings=settings or self.stream_options, **fields)

    @property
    def simulator(self) -> Any:
        """The primary provider's running simulator, if it is a ``sim`` provider."""
        return getattr(self.provider, "simulator", None)

    async def __aenter__(self) -> ConfiguredClient:
        await super().__aenter__()
        try:
            await self.context.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self) -> None:
        if self._closed:
            return
        try:
            await super().aclose()
        finally:
            await self.context.resources.aclose()


def build_client(
    profile: ProfileConfig,
    *,
    config: ConfigFile | None = None,
    observer: Observer | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    meter_provider: Any = None,
) -> ConfiguredClient:
    """Build the client for ``profile``. Order-check warnings go to ``warnings``.

    ``meter_provider`` (an OpenTelemetry ``MeterProvider``) feeds the telemetry layer's
    metrics when the caller runs its own exporter (the profile's ``telemetry.prometheus``
    does otherwise)."""
    path = f"profiles.{profile.name}"
    for warning in check_order(profile, path):
        warnings.warn(str(warning), StackOrderWarning, stacklevel=3)
    transport = HttpTransport(profile.transport)
    build = BuildContext(
        config,
        transport=transport,
        clock=clock,
        env=env,
        observer=observer,
        meter_provider=meter_provider,
    )
    try:
        build.catalogue = _module(
            "genguard.catalogue.policy", "catalogue", "the model catalogue"
        ).parse_policy(config.catalogue if config is not None else None)
        _telemetry_exports(profile, build, path)
        provider = build_provider(profile.provider, f"{path}.provider", build.catalogue)
        if isinstance(provider, SimBackedProvider):
            build.on_enter(build.own(provider).start, first=True)
        layers = build_layers(profile, build, path=path)
    except BaseException:
        build.abandon()
        raise
    return ConfiguredClient(
        provider,
        layers,
        deadline=profile.deadline,
        observer=observer,
        clock=clock,
        transport=transport,
        profile=profile,
        context=build,
        prices=_prices(profile),
    )


def _telemetry_exports(profile: ProfileConfig, build: BuildContext, path: str) -> None:
    telemetry = profile.telemetry
    if telemetry.logs is not None:
        logging_module = _module("genguard.telemetry.logging", f"{path}.telemetry.logs", "logging")
        logging_module.configure_logging(
            json=telemetry.logs.format == "json", level=telemetry.logs.level
        )
    if telemetry.prometheus is not None:
        where = f"{path}.telemetry.prometheus"
        module = _module("genguard.telemetry.prometheus", where, "the Prometheus exporter")
        server = _construct(
            module.start_metrics_server,
            where,
            port=telemetry.prometheus.port,
            host=telemetry.prometheus.host,
            service_name=telemetry.service_name,
        )
        build.meter_provider = server.meter_provider
        build.on_abandon(build.own(server).close)


def client_from_config(
    path: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    *,
    observer: Observer | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> ConfiguredClient:
    """A client for ``profile`` of the file at ``path``.

    ``path`` defaults to ``$GENGUARD_CONFIG``; ``profile`` to ``$GENGUARD_PROFILE``,
    then ``default``. ``env`` replaces ``os.environ`` for ``${VAR}`` (tests).
    """
    environ = os.environ if env is None else env
    if path is None:
        path = environ.get(ENV_CONFIG) or None
        if path is None:
            raise ConfigError("", f"no config file given and {ENV_CONFIG} is not set")
    name = profile or environ.get(ENV_PROFILE) or DEFAULT_PROFILE
    config = load_config(Path(path), env=environ)
    resolved = resolve_profile(config, name, env=environ)
    return build_client(resolved, config=config, observer=observer, clock=clock, env=environ)


__all__ = [
    "CLASSIFIERS",
    "DEFAULT_PROFILE",
    "ENV_CONFIG",
    "ENV_PROFILE",
    "LAYER_MODULES",
    "BuildContext",
    "ConfiguredClient",
    "SimBackedProvider",
    "build_client",
    "build_layers",
    "build_provider",
    "client_from_config",
    "layer_available",
    "new_build",
]
