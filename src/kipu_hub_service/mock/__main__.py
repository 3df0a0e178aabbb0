"""``hub-service-mock``: run the mock gateway in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from dataclasses import fields
from types import FrameType

from .._argtypes import number
from . import MISSING_EXTRA
from .faults import OPERATIONS, FaultConfig, FaultKind, parse_kind
from .limits import Limits
from .rate import RateLimit
from .settings import LOG_LEVELS, MockSettings
from .state import TIMESTAMP_FORMATS, Timing
from .token import DEFAULT_TOKEN_LIFETIME, parse_access_key

_KINDS = [k.value for k in FaultKind]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub-service-mock",
        description="A stateful local mock of the Kipu Quantum Hub service gateway.",
        epilog=(
            "Executions echo their input; {'input': {'fail': true}} ends FAILED, "
            "{'input': {'result_size': N}} sizes result.bin, {'input': {'duration': S}} sets "
            "the running time. Control endpoints: GET /_mock/stats, GET|PUT /_mock/faults; "
            "with --token or --access-key they need a bearer token the API accepts, else "
            "they are open. With --access-key, POST /token on the root exchanges access keys "
            "(ID:SECRET; the secret may contain spaces) for bearer tokens."
        ),
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)")
    add("--base-path", default="", help="serve the API under this prefix, e.g. /acme/vqe/v1")
    add(
        "--token",
        action="append",
        dest="tokens",
        metavar="TOKEN",
        help="accept only this bearer token (repeatable); default: any non-empty token",
    )
    add(
        "--access-key",
        action="append",
        dest="access_keys",
        type=_access_key,
        metavar="ID:SECRET",
        help="serve POST /token for this access key (repeatable); then only issued tokens and "
        "--token values are accepted",
    )
    add(
        "--token-lifetime",
        type=number(int, "at least 1 (second)", lambda value: value >= 1),
        default=DEFAULT_TOKEN_LIFETIME,
        metavar="SECONDS",
        help="how long an issued token is accepted (default: %(default)s)",
    )
    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--pending-seconds",
        type=float,
        default=Timing().pending,
        metavar="S",
        help="how long a new execution stays PENDING (default: %(default)s)",
    )
    timing.add_argument(
        "--running-seconds",
        type=float,
        default=Timing().running,
        metavar="S",
        help="how long it then stays RUNNING, unless its input sets 'duration' "
        "(default: %(default)s)",
    )
    add("--seed", type=int, default=0, help="seed of execution ids and faults (default: 0)")
    add(
        "--timestamp-format",
        choices=TIMESTAMP_FORMATS,
        default=TIMESTAMP_FORMATS[0],
        help="execution timestamps (createdAt, startedAt, endedAt) as the real gateway writes "
        "them, 'gateway': 2026-11-27 14:31:44 (UTC), or 'iso': 2026-11-27T14:31:44.747Z; log "
        "timestamps are ISO 8601 in both (default: %(default)s)",
    )
    faults = parser.add_argument_group(
        "fault injection", "A seeded, reproducible fraction of requests fails."
    )
    faults.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="probability that a request gets a fault, shared among --fault-kind",
    )
    faults.add_argument(
        "--fault-kind",
        action="append",
        choices=_KINDS,
        dest="fault_kinds",
        help="kind of fault for --fault-rate (repeatable; default: all kinds)",
    )
    faults.add_argument(
        "--fault",
        action="append",
        dest="fault_rates",
        metavar="KIND=RATE",
        help=f"rate of one kind of fault (repeatable); kinds: {', '.join(_KINDS)}",
    )
    faults.add_argument(
        "--fault-operation",
        action="append",
        choices=sorted(OPERATIONS),
        dest="fault_operations",
        help="inject faults only into this operation (repeatable; default: all)",
    )
    faults.add_argument(
        "--fault-latency",
        type=float,
        default=0.5,
        metavar="S",
        help="delay added by 'latency' faults, in seconds (default: %(default)s)",
    )
    faults.add_argument(
        "--retry-after",
        type=int,
        default=1,
        metavar="S",
        help="Retry-After header of injected 429 and 503 answers, in whole seconds "
        "(default: %(default)s)",
    )
    faults.add_argument(
        "--fault-limit",
        type=int,
        default=None,
        metavar="N",
        help="stop injecting after N faults (default: no limit)",
    )
    faults.add_argument(
        "--error-status",
        type=number(int, "a 5xx code (500-599)", lambda value: 500 <= value <= 599),
        action="append",
        dest="error_statuses",
        metavar="CODE",
        help="5xx codes of 'error' faults (repeatable; default: 500 and 503)",
    )
    rate = parser.add_argument_group(
        "rate limit", "Like a real gateway: API requests past a rate get 429 with Retry-After."
    )
    rate.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="N",
        help="answer at most N API requests a second, over the window (default: no limit)",
    )
    rate.add_argument(
        "--rate-limit-window",
        type=float,
        default=1.0,
        metavar="S",
        help="the sliding window of --rate-limit, in seconds (default: %(default)s)",
    )
    _add_limits(parser)
    add(
        "--log-level",
        default="warning",
        choices=LOG_LEVELS,
        help="uvicorn's log level (default: %(default)s)",
    )
    add("--access-log", action="store_true", help="log every request")
    return parser


def _add_limits(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group(
        "limits", "Bounds that keep one client from breaking the gateway for the others."
    )
    for item in fields(Limits):
        kind = item.metadata["type"]
        shown = " (default: %(default)s)" if item.default is not None else ""
        limits.add_argument(
            item.metadata["flag"],
            dest=f"limit_{item.name}",
            type=kind,
            default=item.default,
            metavar="S" if kind is float else "N",
            help=item.metadata["help"] + shown,
        )


def limits_config(args: argparse.Namespace) -> Limits:
    """The limits the flags ask for; ValueError on bad values."""
    return Limits(**{item.name: getattr(args, f"limit_{item.name}") for item in fields(Limits)})


def _access_key(text: str) -> str:
    try:
        parse_access_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def settings_from_args(args: argparse.Namespace) -> MockSettings:
    """The gateway settings the flags ask for; ValueError on bad values."""
    return MockSettings(
        host=args.host,
        port=args.port,
        base_path=args.base_path,
        tokens=args.tokens,
        access_keys=args.access_keys,
        token_lifetime=args.token_lifetime,
        timing=Timing(pending=args.pending_seconds, running=args.running_seconds),
        faults=fault_config(args),
        seed=args.seed,
        timestamp_format=args.timestamp_format,
        limits=limits_config(args),
        rate_limit=rate_limit_config(args),
        log_level=args.log_level,
        access_log=args.access_log,
    )


def rate_limit_config(args: argparse.Namespace) -> RateLimit | None:
    """The rate limit the flags ask for (None without ``--rate-limit``); ValueError."""
    if args.rate_limit is None:
        return None
    return RateLimit(rate=args.rate_limit, window=args.rate_limit_window)


def fault_config(args: argparse.Namespace) -> FaultConfig | None:
    """The fault configuration the flags ask for; ValueError on bad values."""
    rates: dict[FaultKind, float] = {}
    if args.fault_rate:
        base = FaultConfig.uniform(args.fault_rate, args.fault_kinds)
        rates.update(base.rates)
    elif args.fault_kinds:
        raise ValueError("--fault-kind needs --fault-rate")
    for item in args.fault_rates or []:
        kind, sep, rate = item.partition("=")
        if not sep:
            raise ValueError(f"--fault expects KIND=RATE, got {item!r}")
        try:
            value = float(rate)
        except ValueError:
            raise ValueError(f"--fault {item!r}: rate must be a number") from None
        rates[parse_kind(kind)] = value
    if not rates:
        return None
    return FaultConfig(
        rates=rates,
        seed=args.seed,
        operations=frozenset(args.fault_operations) if args.fault_operations else None,
        latency=args.fault_latency,
        retry_after=args.retry_after,
        error_statuses=tuple(args.error_statuses or (500, 503)),
        limit=args.fault_limit,
    )


def _ignore(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal that stopped it; after a clean shutdown, ignore it."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ModuleNotFoundError:
        print(f"hub-service-mock: {MISSING_EXTRA}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        settings = settings_from_args(args)
        from .app import MockGatewayApp

        app = MockGatewayApp(settings)
    except ValueError as exc:
        parser.error(str(exc))
    faults = settings.faults

    from .server import _url, bind, uvicorn_config

    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"hub-service-mock: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    url = _url(args.host, sock.getsockname()[1], app.base_path)
    server = uvicorn.Server(uvicorn_config(app))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)
    print(f"Mock gateway listening on {url}", flush=True)
    if app.token_issuer.enabled:
        token_url = _url(args.host, sock.getsockname()[1], "/token")
        ids = ", ".join(app.token_issuer.access_keys)
        print(f"Token endpoint {token_url} (access key ids: {ids})", flush=True)
    if settings.rate_limit is not None:
        limit = settings.rate_limit
        print(f"Rate limit: {limit.capacity} requests per {limit.window:g} s", flush=True)
    if faults is not None:
        rates = ", ".join(f"{k.value}={v:g}" for k, v in faults.rates.items())
        print(f"Injecting faults (seed {faults.seed}): {rates}", flush=True)
    print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    print("Mock gateway stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
