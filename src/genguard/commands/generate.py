"""``genguard generate``: one image through a production policy, written to a file.

Where the policy comes from, first match wins: ``--config FILE`` (or
``$GENGUARD_CONFIG``) and its ``--profile``; else the production profile shipped
for the API (``gemini`` or ``openai``, picked by ``--provider`` or by which key
is set). The embedded simulator answers only when asked with ``--sim``, behind
the same policy; without a key and without ``--sim`` the command stops and says
how to go on.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli import EXIT_OK, EXIT_OUTPUT, EXIT_USAGE, CommandError, Commands, Output
from ..imagefile import IMAGE_SUFFIXES, ImageFormatError, target_path

if TYPE_CHECKING:
    from ..factory import ConfiguredClient
    from ..model import GenerationRequest, GenerationResult

APIS = ("gemini", "openai")


def register(commands: Commands) -> None:
    parser = commands.add(
        "generate",
        run,
        help="generate one image and write it to a file",
        description="Generate one image through a production policy and write it to --out. "
        "Needs GEMINI_API_KEY or OPENAI_API_KEY (or --config FILE); --sim asks for the "
        "embedded simulator instead.",
    )
    parser.add_argument("prompt", help="what to draw")
    parser.add_argument(
        "--out",
        "-o",
        required=True,
        type=Path,
        help="where to write the image; its suffix must match the format (.png...), "
        "or leave it off and the right one is added",
    )
    parser.add_argument(
        "--provider",
        choices=APIS,
        default=None,
        help="which API (default: whichever key is set, Gemini first)",
    )
    parser.add_argument("--model", default=None, help="model id (default: the profile's)")
    parser.add_argument("--size", default=None, help="WxH, e.g. 1024x1024")
    parser.add_argument("--aspect-ratio", default=None, help="e.g. 16:9")
    parser.add_argument("--seed", type=int, default=None, help="seed (0 is a valid seed)")
    parser.add_argument("--config", type=Path, default=None, help="policy file (YAML or TOML)")
    parser.add_argument(
        "--profile",
        default=None,
        help="profile in --config; without --config, a shipped profile "
        "(gemini, openai, sim, sim-openai)",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="stream: report partial images as they arrive (see docs/streaming.md)",
    )
    parser.add_argument(
        "--partials",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --stream, write each partial image into DIR",
    )
    parser.add_argument(
        "--sim",
        action="store_true",
        help="use the embedded simulator instead of the real API (no key needed)",
    )
    parser.add_argument(
        "--sim-profile",
        default="clean",
        help="simulator fault profile with --sim: clean, flaky, ratelimit, slow, "
        "realistic (8-20 s per image)... (default: clean)",
    )


def _check_out(out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix and suffix not in IMAGE_SUFFIXES:
        raise CommandError(
            f"--out {out}: {suffix} is not an image file suffix; use one of "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}, or none to have the right one added",
            exit_code=EXIT_USAGE,
        )


def _client(args: argparse.Namespace, output: Output) -> tuple[ConfiguredClient, str]:
    """The client to use and a word on where its policy came from."""
    from .. import profiles
    from ..config import ENV_CONFIG

    config = args.config or os.environ.get(ENV_CONFIG) or None
    try:
        client = profiles.default_client(
            config=config,
            profile=args.profile,
            api=args.provider,
            simulator=args.sim_profile if args.sim else None,
        )
    except profiles.MissingKey as missing:
        name = "openai" if missing.variable == "OPENAI_API_KEY" else "gemini"
        other = "gemini" if name == "openai" else "openai"
        raise CommandError(
            f"no {missing.variable} set. Set {missing.variable} to call the real {name} API "
            f"(or {profiles.KEY_VARIABLES[other]} with --provider {other}), "
            "pass --config FILE, or add --sim to use the embedded simulator",
            exit_code=EXIT_USAGE,
            details={"missing": missing.variable},
        ) from None
    name = client.profile.name
    return client, (f"profile {name} of {config}" if config else f"shipped {name}")


def _request(args: argparse.Namespace) -> GenerationRequest:
    from ..model import GenerationRequest

    return GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        size=args.size,
        aspect_ratio=args.aspect_ratio,
        seed=args.seed,
    )


def run(args: argparse.Namespace, output: Output) -> int:
    _check_out(args.out)
    request = _request(args)
    client, source = _client(args, output)
    profile = client.profile
    simulated = profile.provider.type == "sim"
    if simulated:
        output.note(
            f"using the embedded simulator (fault profile "
            f"{getattr(profile.provider, 'profile', '?')}) behind {source}: no API key used, "
            "no real image"
        )
    if profile.description and "SIMULATOR-SCALE" in profile.description:
        output.note(f"profile {profile.name} is simulator-scale: not for real APIs")
    if args.partials is not None and not args.stream:
        raise CommandError("--partials needs --stream", exit_code=EXIT_USAGE)
    if args.stream:
        from .streamed import generate_streamed

        result = output.run(generate_streamed(client, request, output, args.partials))
    else:
        result = output.run(_generate(client, request, output))
    return _write(result, args.out, output, source=source, simulated=simulated)


async def _generate(
    client: ConfiguredClient, request: GenerationRequest, output: Output
) -> GenerationResult:
    async with client, output.progress(f"generating with {client.provider.name}"):
        return await client.generate(request)


def _write(
    result: GenerationResult, out: Path, output: Output, *, source: str, simulated: bool
) -> int:
    image = result.image
    facts: dict[str, Any] = {
        "bytes": len(image.data),
        "mime_type": image.format or image.mime_type,
        "provider": result.provider,
        "model": result.model,
        "attempts": result.attempts,
        "latency_s": round(result.latency, 3),
        "generation_id": result.generation_id,
        "policy": source,
        "simulator": simulated,
    }
    code = EXIT_OK
    try:
        target = target_path(image.data, out)
    except ImageFormatError as error:
        if error.suggested is None:
            raise CommandError(str(error), exit_code=EXIT_OUTPUT, details=facts) from None
        target = Path(error.suggested)
        output.note(f"{error}: written to {target} instead")
        facts["requested_path"] = str(out)
        facts["ok"] = False
        facts["error"] = {"type": type(error).__name__, "message": str(error), "exit_code": 4}
        code = EXIT_OUTPUT
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image.data)
    except OSError as exc:
        raise CommandError(
            f"cannot write {target}: {exc.strerror or type(exc).__name__}",
            exit_code=EXIT_OUTPUT,
            details=facts,
        ) from None
    facts["path"] = str(target)
    output.result(
        facts,
        f"wrote {target} ({len(image.data)} bytes, {facts['mime_type']}) from "
        f"{result.provider}/{result.model} in {result.attempts} attempt(s)",
    )
    return code
