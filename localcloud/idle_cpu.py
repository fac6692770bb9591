"""How much CPU a running local cloud (`make localcloud`) takes while nobody uses it.

Asks the cloud's clock control for the CPU seconds its process has used, at the start and at the end
of a period, and prints the share of one core in between. Leave the cloud alone meanwhile.
Usage: python -m localcloud.idle_cpu [SECONDS]   (default 120)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

from localcloud.serve import LOCAL_ENDPOINT_FILE


def process(control_url: str) -> dict:
    """The served cloud's pid and the CPU seconds its process has used so far."""
    with urllib.request.urlopen(control_url + "/process", timeout=10) as response:  # noqa: S310 (loopback, ours)
        return json.loads(response.read())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.idle_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=float, default=120.0, help="how long to measure (default 120)")
    args = parser.parse_args(argv[1:])
    if not args.seconds > 0:
        print(f"the period must be more than 0 seconds, not {args.seconds:g}", file=sys.stderr)
        return 2
    try:
        control_url = json.loads(LOCAL_ENDPOINT_FILE.read_text())["control_url"]
        first = process(control_url)
        started = time.monotonic()
        time.sleep(args.seconds)
        last = process(control_url)
        elapsed = time.monotonic() - started
    except (OSError, ValueError, KeyError) as error:
        print(
            f"no local cloud answers ({LOCAL_ENDPOINT_FILE}: {error}): start one with `make localcloud`",
            file=sys.stderr,
        )
        return 1
    used = last["cpu_seconds"] - first["cpu_seconds"]
    print(
        f"idle CPU of the local cloud (pid {last['pid']}) over {elapsed:.0f} s: "
        f"{100 * used / elapsed:.2f}% of one core ({used:.2f} s of CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
