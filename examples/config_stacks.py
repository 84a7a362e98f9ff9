"""Run a declarative policy stack from a config file, on the embedded simulator (no API key).

    python examples/config_stacks.py            # examples/dev.yaml, profile "flaky"
    python examples/config_stacks.py default    # another profile

The same file works with `genguard config check examples/dev.yaml` and
`genguard config show examples/dev.yaml --profile flaky`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from genguard.config import client_from_config, show
from genguard.observe import RecordingObserver

CONFIG = Path(__file__).with_name("dev.yaml")


async def main(profile: str) -> None:
    print(show(CONFIG, profile))
    recorder = RecordingObserver()
    async with client_from_config(CONFIG, profile, observer=recorder) as client:
        for index in range(5):
            result = await client.generate(f"a watercolour fox, take {index}")
            print(
                f"call {index}: {result.provider}/{result.model}, {len(result.image.data)} bytes, "
                f"{result.attempts} attempt(s), {result.latency * 1000:.1f} ms"
            )
    retries = recorder.of("retry_scheduled")
    print(f"retries scheduled: {len(retries)}", *(f"({r['reason']})" for r in retries))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "flaky"))
