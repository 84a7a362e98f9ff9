"""Fallback: when the primary stack is open, down or out of time, serve from the next one.

Call-scoped and placed outside retry, so it sees the primary's final verdict
(retries exhausted, breaker open) rather than each attempt. Each target is a
provider with its own inner layers (its own retry, breaker, limiter, timeout)
folded once, at build time, with ``compose``. Routing re-labels the call
(``provider``, ``model``, ``key``; the request's model override is dropped,
as it named the primary's model) so the target's breaker and limiter use the
target's key, and the result names the provider and model that served it.

A blocked prompt stays blocked: ``ContentBlocked`` is never routed around,
and neither is cancellation.

The request keeps its meaning across providers: before a target is tried, the
request is translated for the target's model with the model catalogue (aspect
ratio, size, image size, options), the result records every change in
``result.changes``, and a target that cannot serve the request faithfully (too
many images, input images or a mask it cannot take, a conversation it cannot
replay) is skipped with its reason in ``call.extras["fallback.skipped"]``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from ..catalogue.store import Catalogue, default_catalogue
from ..catalogue.translate import Untranslatable, translate
from ..core import Handler, KeyFunc, Layer, Scope, compose, default_key
from ..errors import NAMED, ConfigError, ContentBlocked, DeadlineExceeded, GenGuardError
from ..model import Call, Change, GenerationResult
from ..options import Duration, LayerOptions
from ..state.resource import AsyncResource, close_all

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..providers.transport import HttpTransport

#: The error names ``on`` accepts (each error's ``kind``, declared in ``genguard.errors``).
ROUTE_NAMES: Mapping[str, type[GenGuardError]] = NAMED


if TYPE_CHECKING:
    FallbackOn = str
else:
    #: The names ``on`` accepts in files: each error's ``kind``, declared in genguard.errors.
    FallbackOn = Literal[tuple(NAMED)]

#: The kinds routed by default: those whose error says ``reroutable`` (the primary is
#: open, down, or retries ran out on one of these, the deadline cut it short with time
#: still left for another stack, or its quota is spent: another provider's is not).
#: Derived from the error classes; with ``on`` unset the layer reads each error's fact.
DEFAULT_ON: tuple[str, ...] = tuple(name for name, kind in NAMED.items() if kind.reroutable)


class FallbackOptions(LayerOptions):
    layer_name: ClassVar[str] = "fallback"
    doc: ClassVar[str] = (
        "When this stack is open, unavailable or exhausted, try the named profiles in order "
        "(their provider and layers, sharing this client's HTTP session)."
    )

    to: tuple[str, ...] = Field(min_length=1, description="Profile names, tried in order.")
    on: tuple[FallbackOn, ...] | None = Field(
        None,
        min_length=1,
        description="Final errors worth routing; unset, every error that says another "
        "stack may serve the call (`reroutable`).",
    )
    min_remaining: Duration = Field(
        0.0, ge=0, description="Route a deadline error only with this much time left."
    )


@dataclass(frozen=True, slots=True)
class FallbackTarget:
    """A provider and the layers around it (outermost first), e.g. its own retry and breaker.

    ``model`` overrides the provider's default model (to fall back to a cheaper
    model of the same provider, give the same provider and another model).
    """

    provider: Provider
    layers: Sequence[Layer] = ()
    model: str | None = None

    @property
    def model_name(self) -> str:
        return self.model or self.provider.model

    def build(self, transport: HttpTransport | None = None) -> Handler:
        """Fold this target's layers around ``provider.send``: on ``transport``, or on the
        transport of the client running the call (``call.transport``) when None."""
        send = self.provider.send
        if transport is not None:
            fixed = transport

            def terminal(call: Call) -> Awaitable[GenerationResult]:
                return send(call, fixed)

        else:

            def terminal(call: Call) -> Awaitable[GenerationResult]:
                if call.transport is None:
                    raise ConfigError(
                        "fallback.targets", "a fallback route needs the client's transport"
                    )
                return send(call, call.transport)

        return compose(tuple(self.layers), terminal)

    def route(self, transport: HttpTransport | None = None) -> FallbackRoute:
        """This target built: its label and its composed handler (see ``build``)."""
        return FallbackRoute(
            self.provider.name, self.model_name, self.build(transport), self.layers
        )


def _resolve(
    on: Sequence[type[BaseException] | str] | None,
) -> tuple[type[BaseException], ...] | None:
    if on is None:
        return None
    kinds: list[type[BaseException]] = []
    for index, item in enumerate(on):
        path = f"fallback.on[{index}]"
        kind: type[BaseException] | None
        if isinstance(item, str):
            kind = ROUTE_NAMES.get(item)
            if kind is None:
                names = ", ".join(ROUTE_NAMES)
                raise ConfigError(path, f"unknown error {item!r}; expected one of: {names}")
        elif isinstance(item, type) and issubclass(item, Exception):
            kind = item
        else:
            raise ConfigError(path, f"must be an error name or an Exception class, got {item!r}")
        if issubclass(kind, ContentBlocked):
            raise ConfigError(path, "content blocks are never routed around")
        kinds.append(kind)
    return tuple(kinds)


@dataclass(frozen=True, slots=True)
class FallbackRoute:
    """A ready-built stack to fall back to: its provider and model names, its composed
    handler, and the layers it holds (closed with the fallback layer)."""

    provider: str
    model: str
    handler: Handler
    layers: Sequence[Layer] = ()


class FallbackLayer(AsyncResource):
    """Tries the rest of the pipeline (the primary), then each route in order.

    ``targets`` are ready-built ``FallbackRoute``s (what the config factory hands
    over) or ``FallbackTarget``s, built here once. ``on`` lists what is worth
    routing: error classes or their ``kind`` names (``ROUTE_NAMES``); unset, every
    error whose ``reroutable`` fact is true (``DEFAULT_ON`` for the built-in ones).
    ``DeadlineExceeded`` is routed only while more than ``min_remaining`` seconds
    of the call's deadline are left. The layer owns no HTTP session: targets send
    on ``transport`` when given, else on the transport of the client running the
    call. ``catalogue`` describes the targets' models for translation (the
    shipped one by default); a target model it does not know gets the request
    unchanged.
    """

    options_model: ClassVar[type[FallbackOptions]] = FallbackOptions

    scope: Scope = "call"

    def __init__(
        self,
        options: FallbackOptions | Sequence[FallbackTarget | FallbackRoute] | None = None,
        /,
        *,
        targets: Sequence[FallbackTarget | FallbackRoute] | None = None,
        on: Sequence[type[BaseException] | str] | None = None,
        min_remaining: float | str | None = None,
        transport: HttpTransport | None = None,
        key_func: KeyFunc = default_key,
        catalogue: Catalogue | None = None,
    ) -> None:
        """``FallbackLayer([target, ...], on=..., min_remaining=...)`` in Python, or
        ``FallbackLayer(FallbackOptions(...), targets=routes)`` from a file: the model
        holds the defaults and bounds; the targets (built from its ``to``) and an ``on``
        of exception classes are what only Python can hand over."""
        if options is not None and not isinstance(options, FallbackOptions):
            targets, options = options, None
        if not targets:
            raise ConfigError("fallback.targets", "needs at least one target")
        if options is None:
            options = FallbackOptions.model_construct(to=("-",))
        if min_remaining is not None:
            options = FallbackOptions.of(options, {"min_remaining": min_remaining}, "fallback")
        self.options = options
        self.targets = tuple(targets)
        self.on = _resolve(options.on if on is None else on)
        self.min_remaining = options.min_remaining
        self.transport = transport
        self.key_func = key_func
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.routes = tuple(
            t if isinstance(t, FallbackRoute) else t.route(transport) for t in targets
        )

    def routable(self, call: Call, error: BaseException) -> bool:
        """Whether ``error`` from the current stack sends ``call`` to the next one."""
        if isinstance(error, ContentBlocked):
            return False
        if self.on is None:
            if not (isinstance(error, GenGuardError) and error.reroutable):
                return False
        elif not isinstance(error, self.on):
            return False
        if isinstance(error, DeadlineExceeded):
            remaining = call.remaining()
            return remaining is None or remaining > self.min_remaining
        return True

    async def __call__(self, call: Call, next: Handler) -> GenerationResult:
        try:
            return await next(call)
        except Exception as error:
            if not self.routable(call, error):
                raise
            last: Exception = error
        tried = [call.key]
        skipped: list[str] = []
        original = call.request
        if original.model is not None:
            original = replace(original, model=None)
        for route in self.routes:
            from_key = call.key
            spec = self.catalogue.get(route.model)
            changes: tuple[Change, ...] = ()
            request = original
            if spec is not None:
                try:
                    translation = translate(original, spec)
                except Untranslatable as skip:
                    skipped.append(f"{route.provider}/{route.model}: {skip.message}")
                    call.extras["fallback.skipped"] = tuple(skipped)
                    continue
                request, changes = translation.request, translation.changes
            call.request = request
            call.provider = route.provider
            call.model = route.model
            call.key = self.key_func(request, route.provider, route.model)
            tried.append(call.key)
            call.extras["fallback.route"] = tuple(tried)
            call.observer.fallback_used(call, from_key, call.key, _reason(last))
            try:
                result = await route.handler(call)
            except Exception as error:
                if not self.routable(call, error):
                    raise
                last = error
                continue
            return replace(result, changes=result.changes + changes) if changes else result
        last.add_note(f"fallback: every stack failed ({' -> '.join(tried)})")
        for reason in skipped:
            last.add_note(f"fallback: skipped {reason}")
        raise last

    async def aclose(self) -> None:
        """Close the routes' layers that hold resources (the transport is the client's)."""
        await close_all(layer for route in self.routes for layer in route.layers)

    def __repr__(self) -> str:
        chain = ", ".join(f"{r.provider}/{r.model}" for r in self.routes)
        return f"FallbackLayer(targets=[{chain}])"


def _reason(error: BaseException) -> str:
    """The reason reported to the observer: the error's ``kind``, else its class name."""
    kind = error.kind if isinstance(error, GenGuardError) else None
    return kind or type(error).__name__


__all__ = [
    "DEFAULT_ON",
    "ROUTE_NAMES",
    "FallbackLayer",
    "FallbackOptions",
    "FallbackRoute",
    "FallbackTarget",
]
