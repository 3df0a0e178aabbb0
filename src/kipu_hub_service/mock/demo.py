"""``make demo``: the reference quickstart with the SDK against a local mock gateway.

Starts the mock gateway on a free loopback port, prints the variables that point ``hub-service``
(or your own code) at it, then, signed in with an access key (exchanged for a token at the
mock's token endpoint), starts an execution, polls it to a terminal state, reads its result
and logs, streams a result file to disk, and stops the gateway (``--serve``: keeps it serving
until Ctrl-C, for another shell). Sizes and times are written as ``hub-service`` writes them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kipu_hub_service import ClientCredentials, HubServiceClient

from .._display import human_bytes, stamp
from .files import iter_result_bin
from .server import MockGateway

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "demo-access-key", "demo-secret-access-key"
RESULT_SIZE = 8 * 1024 * 1024


def _step(number: int, title: str, text: str = "") -> None:
    print(f"\n{number}. {title:<20}{text}".rstrip())


def _more(text: str) -> None:
    print(f"   {'':<20}{text}")


def exports(gateway: MockGateway) -> list[str]:
    """The ``export`` lines that point ``hub-service`` and ``from_env()`` at ``gateway``."""
    variables = {
        "HUB_SERVICE_BASE_URL": gateway.url,
        "HUB_SERVICE_TOKEN_ENDPOINT": gateway.token_url,
        "HUB_SERVICE_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "HUB_SERVICE_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]


def _serve(gateway: MockGateway) -> None:
    """Keep ``gateway`` serving until Ctrl-C."""
    print(f"\nMock gateway serving at {gateway.url} until Ctrl-C; from another shell:", flush=True)
    for line in exports(gateway):
        _more(line)
    _more('hub-service run --input \'{"molecule": "H2"}\'')
    print(flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def run(output_dir: Path, fail: bool = False, serve: bool = False) -> str:
    """The quickstart against a fresh mock gateway; returns the final status."""
    access_key = f"{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}"
    with MockGateway(base_path="/acme/vqe/v1", access_keys=[access_key]) as gateway:
        print("Kipu Quantum Hub service gateway SDK: the quickstart against a local mock gateway")
        print(f"\n   Mock gateway        {gateway.url}")
        print(f"   Token endpoint      {gateway.token_url} (access key {ACCESS_KEY_ID})")
        print("   Another shell       while it runs (make demo SERVE=1 keeps it running):")
        for line in exports(gateway):
            _more(line)
        credentials = ClientCredentials(
            ACCESS_KEY_ID, SECRET_ACCESS_KEY, token_endpoint=gateway.token_url
        )
        service = HubServiceClient(base_url=gateway.url, token=credentials)
        with service:
            api = service.service_api
            payload: dict[str, object] = {"molecule": "H2", "basis": "sto-3g"}
            payload["result_size"] = RESULT_SIZE
            if fail:
                payload["fail"] = True
            execution = api.start_execution(request={"input": payload, "tags": ["demo"]})
            _step(1, "start_execution", f"id {execution.id}")
            _more(f"status {execution.status}, input {json.dumps(payload)}")

            started = time.monotonic()
            statuses = [str(execution.status)]
            while statuses[-1] not in TERMINAL:
                time.sleep(0.1)
                status = str(api.get_status(execution.id).status)
                if status != statuses[-1]:
                    statuses.append(status)
            _step(2, "get_status", " -> ".join(statuses))
            _more(f"terminal after {time.monotonic() - started:.1f} s of polling")

            result = api.get_result(execution.id)
            embedded = result.embedded
            shown = embedded.status.status if embedded and embedded.status else "unknown"
            _step(3, "get_result", f"status {shown}")
            if "output" in result:
                _more(f"output {json.dumps(result['output'])}")
            files = result.links.additional_keys if result.links else []
            _more(f"files  {', '.join(files) if files else '(none)'}")

            _step(4, "get_logs")
            for entry in api.get_logs(execution.id) or []:
                _more(f"{stamp(entry.timestamp)}  {entry.severity!s:<8} {entry.message}")

            _step(5, "get_result_file")
            output_dir.mkdir(parents=True, exist_ok=True)
            for name in files:
                target = output_dir / name
                digest = hashlib.sha256()
                with target.open("wb") as out:
                    for chunk in api.get_result_file(execution.id, name):
                        out.write(chunk)
                        digest.update(chunk)
                note = ""
                if name == "result.bin":
                    expected = hashlib.sha256()
                    for chunk in iter_result_bin(execution.id, RESULT_SIZE):
                        expected.update(chunk)
                    note = " (verified)" if expected.digest() == digest.digest() else " (MISMATCH)"
                _more(f"{name} -> {target}  {human_bytes(target.stat().st_size)}{note}")
            if not files:
                _more("no result files")
            final = statuses[-1]
            stats = gateway.stats()
            calls = sum(stats["requests"].values())
            tokens = stats["tokens"]["requests"]
            print(f"\n   Access key          {tokens} token request for {calls} gateway calls")
        if serve:
            _serve(gateway)
    print("\nMock gateway stopped.")
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kipu_hub_service.mock.demo",
        description="Run the SDK quickstart against a local mock gateway.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where result files are written (default: a temporary folder, removed afterwards)",
    )
    parser.add_argument("--fail", action="store_true", help="ask the service to fail")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the mock gateway serving after the quickstart, until Ctrl-C",
    )
    args = parser.parse_args(argv)
    if args.output_dir is not None:
        final = run(args.output_dir, fail=args.fail, serve=args.serve)
    else:
        with tempfile.TemporaryDirectory(prefix="hub-service-demo-") as scratch:
            final = run(Path(scratch), fail=args.fail, serve=args.serve)
        print(
            "Result files removed with their temporary folder "
            "(keep them: make demo OUT=DIR, or --output-dir DIR)."
        )
    return 0 if final == "SUCCEEDED" or args.fail else 1


if __name__ == "__main__":
    sys.exit(main())
