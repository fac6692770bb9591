"""`make localcloud`: a local cloud that stays up, for `scribe --local` and any AWS client.

Starts the moto server with this project's shims on a loopback port, deploys both stacks with the
real CDK CLI, registers the bundled samples' reference transcripts, writes the endpoint to
.localcloud/endpoint.json (where `scribe --local` finds it) and runs the cloud until Ctrl-C.
Usage: python -m localcloud.serve [cdk.out] [--port N]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from localcloud.cdk_cli import deploy_all, free_port
from localcloud.cloud import LocalCloud
from localcloud.demo import SAMPLES
from scribe.target import LOCAL_ENDPOINT_FILE


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.serve", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", nargs="?", default="cdk.out", type=Path)
    parser.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    args = parser.parse_args(argv[1:])
    port = args.port or free_port()
    # A TERM (a supervisor, `timeout`) stops it as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with LocalCloud(args.cdk_out, port=port) as cloud:
        print(f"local cloud on {cloud.endpoint_url}: deploying with the CDK CLI ...", flush=True)
        for stack in deploy_all(cloud):
            print(f"  {stack}: bucket {cloud.outputs[stack]['EncounterBucketName']}", flush=True)
        for sample in sorted(SAMPLES.glob("*.wav")):
            cloud.transcribe.register(sample.read_bytes(), sample.with_suffix(".txt").read_text().strip())
        LOCAL_ENDPOINT_FILE.parent.mkdir(parents=True, exist_ok=True)
        LOCAL_ENDPOINT_FILE.write_text(json.dumps({"endpoint_url": cloud.endpoint_url, "port": port}))
        print(f"ready: `scribe --local ...` (or AWS_ENDPOINT_URL={cloud.endpoint_url}); Ctrl-C stops it", flush=True)
        try:
            while True:
                if not cloud.pump():
                    time.sleep(0.01)
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            LOCAL_ENDPOINT_FILE.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
