"""Everyday use from a script or a notebook: one-liners, a blocking client, saving images.

    python examples/everyday.py            # the embedded simulator behind the production policy
    GEMINI_API_KEY=... python examples/everyday.py --real   # a real call (billed)

No event loop to manage: ``genguard.generate`` and ``SyncClient`` run genguard's async
client on a loop of their own, so this works the same inside Jupyter.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import genguard
from genguard import SyncClient
from genguard.errors import InvalidRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", action="store_true", help="call the real API (needs a key)")
    args = parser.parse_args()
    simulator = None if args.real else "flaky"
    out = Path(tempfile.mkdtemp(prefix="genguard-"))

    # genguard is silent until the application configures logging; this shows its lines.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    # One line: the shipped production profile of whichever key is set (or the simulator).
    result = genguard.generate("a red fox in the snow", seed=0, simulator=simulator)
    print(result)  # short: provider, model, attempts, latency, never the image bytes
    print("saved", result.save(out / "fox"))  # the suffix comes from the bytes: fox.png

    # Many calls: one client, kept open.
    with SyncClient.from_profile("gemini", simulator=simulator) as client:
        for index, prompt in enumerate(("a lighthouse", "a paper crane", "a red bicycle")):
            image = client.generate(prompt, aspect_ratio="1:1", seed=index).image
            print(prompt, "->", image.save(out / f"{index}.png"), image)
        try:
            client.generate("a typo", options={"qualty": "high"})
        except InvalidRequest as error:  # an unknown option is an error, never dropped
            print("refused before sending:", error)


if __name__ == "__main__":
    main()
