"""`make bench`: the SDK's client-process CPU against raw httpx + json, side by side.

Starts the canned loopback server (``benchmarks/server.py``, a separate process), then runs
every workload for every side in a fresh child process, several times, interleaved. A child
measures its own CPU (user + sys, ``time.process_time``) around the workload only (imports,
client construction and one warm-up request excluded) and its peak RSS (``ru_maxrss``).

Sides: ``raw`` is the floor (httpx + ``json.loads``, plus ``datetime.fromisoformat`` for log
timestamps); ``sdk`` is ``kipu_hub_service`` (``dropin``: ``qhub.api.service``, W6 only);
``gen`` is raw httpx + the generated models' ``from_dict``, which shows what model construction
alone costs; ``sdk-nofast`` is the async client with aiohttp made unimportable. W4big streams
the large file to show memory stays flat; W6 times one import statement in a fresh ``python
-c``, with bytecode caches written and used as for an installed package. W7 puts status calls
with ``ClientCredentials`` (a cached token) against the same calls with a fixed token, both SDK
sides of the same run. Ratios are medians over medians. Reports go to
``benchmarks/results/latest.{json,md}``; the exit status is 1 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "/ctx/svc/v1"
TOKEN = "bench-token"
EXECUTION_ID = "6f1c2d3e-0000-4000-8000-000000000001"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does."""

    calls: int = 3_000
    executions: int = 20_000
    logs: int = 20_000
    file_mib: int = 256
    big_file_mib: int = 1_024
    async_calls: int = 2_000
    concurrency: int = 64
    runs: int = 5
    import_runs: int = 11


QUICK = Sizes(
    calls=30,
    executions=200,
    logs=200,
    file_mib=2,
    big_file_mib=4,
    async_calls=40,
    concurrency=8,
    runs=1,
    import_runs=1,
)


# --------------------------------------------------------------------------------------
# Child side: one workload, one side, measured in this process.
# --------------------------------------------------------------------------------------


def _rss_kib() -> int:
    """Current resident set size in KiB (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _measure(work: Callable[[], int]) -> dict[str, Any]:
    rss_before = _rss_kib()
    wall = time.perf_counter()
    cpu = time.process_time()
    items = work()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    return {
        "cpu": cpu,
        "wall": wall,
        "items": items,
        "rss_before_kib": rss_before,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _raw_client(base_url: str) -> Any:
    import httpx

    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"})


def _sdk_client(base_url: str) -> Any:
    from kipu_hub_service import HubServiceClient

    return HubServiceClient(base_url=base_url, token=TOKEN)


def child_w1(side: str, base_url: str, sizes: Sizes) -> dict[str, Any]:
    """W1: sequential get_status calls."""
    calls = sizes.calls
    if side == "raw":
        client = _raw_client(base_url)
        loads = json.loads
        path = f"/{EXECUTION_ID}"
        client.get(path)

        def work() -> int:
            for _ in range(calls):
                response = client.get(path)
                response.raise_for_status()
                loads(response.content)
            return calls

    else:
        sdk = _sdk_client(base_url)
        get_status = sdk.service_api.get_status
        get_status(EXECUTION_ID)

        def work() -> int:
            for _ in range(calls):
                get_status(EXECUTION_ID)
            return calls

    return _measure(work)


def child_list(workload: str, side: str, base_url: str, sizes: Sizes) -> dict[str, Any]:
    """W2 (executions) and W3 (log entries, timestamps parsed)."""
    path = "/" if workload == "W2" else f"/{EXECUTION_ID}/log"
    if side in ("raw", "gen"):
        client = _raw_client(base_url)
        loads = json.loads
        client.get(f"/{EXECUTION_ID}")
        if side == "raw" and workload == "W2":

            def work() -> int:
                response = client.get(path)
                response.raise_for_status()
                return len(loads(response.content))

        elif side == "raw":
            from datetime import datetime

            fromisoformat = datetime.fromisoformat

            def work() -> int:
                response = client.get(path)
                response.raise_for_status()
                entries = loads(response.content)
                for entry in entries:
                    entry["timestamp"] = fromisoformat(entry["timestamp"])
                return len(entries)

        else:
            from qhub_service_gen.models import LogEntry, ServiceExecution

            from_dict = (ServiceExecution if workload == "W2" else LogEntry).from_dict

            def work() -> int:
                response = client.get(path)
                response.raise_for_status()
                return len([from_dict(item) for item in loads(response.content)])

    else:
        sdk = _sdk_client(base_url)
        api = sdk.service_api
        api.get_status(EXECUTION_ID)
        if workload == "W2":

            def work() -> int:
                return len(api.get_service_executions())

        else:

            def work() -> int:
                return len(api.get_logs(EXECUTION_ID) or ())

    return _measure(work)


def child_w4(side: str, base_url: str, sizes: Sizes, mib: int) -> dict[str, Any]:
    """W4: stream a result file of ``mib`` MiB, counting bytes."""
    name = f"{mib}MiB.bin"
    if side == "raw":
        client = _raw_client(base_url)
        client.get(f"/{EXECUTION_ID}")
        path = f"/{EXECUTION_ID}/result/{name}"

        def work() -> int:
            total = 0
            with client.stream("GET", path) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    total += len(chunk)
            return total

    else:
        sdk = _sdk_client(base_url)
        api = sdk.service_api
        api.get_status(EXECUTION_ID)

        def work() -> int:
            total = 0
            for chunk in api.get_result_file(EXECUTION_ID, name):
                total += len(chunk)
            return total

    result = _measure(work)
    if result["items"] != mib * MIB:
        raise RuntimeError(f"streamed {result['items']} bytes, expected {mib * MIB}")
    return result


def child_w5(side: str, base_url: str, sizes: Sizes) -> dict[str, Any]:
    """W5: get_status on the async client, ``concurrency`` calls in flight."""
    import asyncio

    if side == "sdk-nofast":
        sys.modules["aiohttp"] = None  # type: ignore[assignment]  # import now fails
    calls, concurrency = sizes.async_calls, sizes.concurrency

    async def main() -> dict[str, Any]:
        if side == "raw":
            import httpx

            client = httpx.AsyncClient(
                base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            loads = json.loads
            path = f"/{EXECUTION_ID}"

            async def one() -> None:
                response = await client.get(path)
                response.raise_for_status()
                loads(response.content)

            close = client.aclose
        else:
            from kipu_hub_service import AsyncHubServiceClient

            sdk = AsyncHubServiceClient(base_url=base_url, token=TOKEN)
            get_status = sdk.service_api.get_status

            async def one() -> None:
                await get_status(EXECUTION_ID)

            close = sdk.aclose

        async def worker(share: int) -> None:
            for _ in range(share):
                await one()

        async def burst(total: int) -> None:
            shares = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
            await asyncio.gather(*(worker(n) for n in shares if n))

        await burst(concurrency)  # open the connections
        rss_before = _rss_kib()
        wall = time.perf_counter()
        cpu = time.process_time()
        await burst(calls)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        await close()
        return {
            "cpu": cpu,
            "wall": wall,
            "items": calls,
            "rss_before_kib": rss_before,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }

    return asyncio.run(main())


def child_w7(side: str, base_url: str, sizes: Sizes) -> dict[str, Any]:
    """W7: sequential get_status calls, a fixed token (``sdk``) or access keys (``sdk-creds``)."""
    from kipu_hub_service import ClientCredentials, HubServiceClient

    calls = sizes.calls
    token: Any = TOKEN
    if side == "sdk-creds":
        endpoint = base_url.removesuffix(PREFIX) + "/token"
        token = ClientCredentials("bench-key", "bench-secret", token_endpoint=endpoint)
    get_status = HubServiceClient(base_url=base_url, token=token).service_api.get_status
    get_status(EXECUTION_ID)  # the warm-up fetches the token

    def work() -> int:
        for _ in range(calls):
            get_status(EXECUTION_ID)
        return calls

    return _measure(work)


def child_main(workload: str, side: str, base_url: str, sizes: Sizes) -> dict[str, Any]:
    if workload == "W1":
        return child_w1(side, base_url, sizes)
    if workload in ("W2", "W3"):
        return child_list(workload, side, base_url, sizes)
    if workload == "W4":
        return child_w4(side, base_url, sizes, sizes.file_mib)
    if workload == "W4big":
        return child_w4(side, base_url, sizes, sizes.big_file_mib)
    if workload == "W5":
        return child_w5(side, base_url, sizes)
    if workload == "W7":
        return child_w7(side, base_url, sizes)
    raise SystemExit(f"unknown workload {workload!r}")


_IMPORT_SNIPPET = """\
import resource, sys, time
c = time.process_time(); w = time.perf_counter()
{statement}
c = time.process_time() - c; w = time.perf_counter() - w
r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print('{{"cpu": %r, "wall": %r, "items": %d, "maxrss_kib": %d}}' % (c, w, len(sys.modules), r))
"""

IMPORT_STATEMENTS = {
    "raw": "import httpx",
    "sdk": "import kipu_hub_service",
    "dropin": "import qhub.api.service",
    "sdk-client": "from kipu_hub_service import HubServiceClient, AsyncHubServiceClient",
}


# --------------------------------------------------------------------------------------
# Parent side: the server, the schedule, the report.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One checked figure: ``side``'s metric over ``baseline``'s, at most ``limit``."""

    workload: str
    label: str
    side: str
    limit: float
    kind: str = "ratio"  # ratio of CPU medians; or "rss-diff-mib" / "rss-growth-mib"
    baseline: str = "raw"


TARGETS = [
    Target("W1", "get_status x calls", "sdk", 1.0),
    Target("W2", "get_service_executions", "sdk", 1.35),
    Target("W2", "generated from_dict only", "gen", 2.5),
    Target("W3", "get_logs, datetimes (no GC pause)", "sdk", 1.5),
    Target("W3", "generated from_dict only", "gen", 3.0),
    Target("W4", "stream file, CPU", "sdk", 1.05),
    Target("W4", "stream file, peak RSS over raw", "sdk", 20.0, "rss-diff-mib"),
    Target("W4big", "stream big file, RSS growth", "sdk", 16.0, "rss-growth-mib"),
    Target("W5", "async get_status, fast extra", "sdk", 0.16),
    Target("W5", "async get_status, no fast extra", "sdk-nofast", 1.0),
    Target("W6", "import kipu_hub_service", "sdk", 1.2),
    Target("W6", "import qhub.api.service (drop-in + its guard)", "dropin", 1.2),
    Target("W6", "import HubServiceClient, AsyncHubServiceClient", "sdk-client", 1.1),
    Target(
        "W7", "get_status, ClientCredentials over fixed token", "sdk-creds", 1.03, "ratio", "sdk"
    ),
]

SIDES = {
    "W1": ["raw", "sdk"],
    "W2": ["raw", "gen", "sdk"],
    "W3": ["raw", "gen", "sdk"],
    "W4": ["raw", "sdk"],
    "W4big": ["sdk"],
    "W5": ["raw", "sdk", "sdk-nofast"],
    "W6": ["raw", "sdk", "dropin", "sdk-client"],
    "W7": ["sdk", "sdk-creds"],
}


def _start_server(sizes: Sizes) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "server.py"),
            "--executions",
            str(sizes.executions),
            "--logs",
            str(sizes.logs),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        raise SystemExit(f"the canned server did not start: {line!r}")
    return server, f"http://127.0.0.1:{int(line.split()[1])}{PREFIX}"


_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""Children write and use bytecode caches, as an installed (compiled) package does."""


def _run_child(workload: str, side: str, base_url: str, sizes: Sizes) -> dict[str, Any]:
    if workload == "W6":
        argv = [sys.executable, "-c", _IMPORT_SNIPPET.format(statement=IMPORT_STATEMENTS[side])]
    else:
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            workload,
            side,
            "--base-url",
            base_url,
            "--sizes",
            json.dumps(asdict(sizes)),
        ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=900, cwd=ROOT, env=_CHILD_ENV
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": tail[:300]}
    last = done.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def _machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for dist in ("httpx", "aiohttp", "attrs"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = "not installed"
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


def _evaluate(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    rows = []
    for target in TARGETS:
        if target.workload not in results:
            continue
        runs = results[target.workload]
        mine, base = runs.get(target.side, []), runs.get(target.baseline, [])
        errors = [r["error"] for r in mine + base if "error" in r]
        value: float | None = None
        if target.kind == "ratio":
            a, b = _median(mine, "cpu"), _median(base, "cpu")
            value = a / b if a is not None and b else None
        elif target.kind == "rss-diff-mib":
            a, b = _median(mine, "maxrss_kib"), _median(base, "maxrss_kib")
            value = (a - b) / 1024 if a is not None and b is not None else None
        else:
            growth = [r["maxrss_kib"] - r["rss_before_kib"] for r in mine if "maxrss_kib" in r]
            value = statistics.median(growth) / 1024 if growth else None
        rows.append(
            {
                "workload": target.workload,
                "what": target.label,
                "side": target.side,
                "kind": target.kind,
                "value": value,
                "limit": target.limit,
                "ok": value is not None and value <= target.limit,
                "error": errors[0][:120] if errors and value is None else None,
            }
        )
    return rows


def _per_item(workload: str, runs: list[dict[str, Any]]) -> str:
    """CPU per call / per item / per MiB, as the workload's natural unit."""
    cpu, items = _median(runs, "cpu"), _median(runs, "items")
    if cpu is None or not items or workload == "W6":
        return ""
    if workload.startswith("W4"):
        return f"{cpu / items * MIB * 1e3:.2f} ms/MiB"
    return f"{cpu / items * 1e6:.1f} us"


def _markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    machine = report["machine"]
    lines = [
        "| workload | what | measured | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in report["targets"]:
        if row["value"] is None:
            shown = f"n/a ({row['error'] or 'not run'})"
        elif row["kind"] == "ratio":
            shown = f"{row['value']:.2f}x"
        else:
            shown = f"{row['value']:.1f} MiB"
        limit = f"<= {row['limit']:.2f}x" if row["kind"] == "ratio" else f"<= {row['limit']:g} MiB"
        mark = "ok" if row["ok"] else "MISSED"
        lines.append(f"| {row['workload']} | {row['what']} | {shown} | {limit} | {mark} |")
    lines += [
        "",
        "| workload | side | median CPU s | per item | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for workload, sides in report["runs"].items():
        for side, runs in sides.items():
            cpu = _median(runs, "cpu")
            rss = _median(runs, "maxrss_kib")
            if cpu is None:
                lines.append(f"| {workload} | {side} | n/a | | |")
                continue
            per_text = _per_item(workload, runs)
            rss_text = f"{rss / 1024:.1f}" if rss is not None else ""
            lines.append(f"| {workload} | {side} | {cpu:.4f} | {per_text} | {rss_text} |")
    lines += [
        "",
        f"Sizes: W1 {sizes['calls']} calls; W2 {sizes['executions']} executions; "
        f"W3 {sizes['logs']} log entries; W4 {sizes['file_mib']} MiB (memory growth at "
        f"{sizes['big_file_mib']} MiB); W5 {sizes['async_calls']} calls at concurrency "
        f"{sizes['concurrency']}; median of {sizes['runs']} runs "
        f"({sizes['import_runs']} for W6).",
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs, Python {machine['python']}, "
        f"httpx {machine['versions']['httpx']}, aiohttp "
        f"{machine['versions']['aiohttp']}; {report['date']}.",
    ]
    return "\n".join(lines) + "\n"


def parent_main(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else Sizes()
    overrides = {
        name: getattr(args, name)
        for name in Sizes.__dataclass_fields__
        if getattr(args, name, None) is not None
    }
    sizes = Sizes(**{**asdict(sizes), **overrides})
    only = [w.strip() for w in args.only.split(",")] if args.only else list(SIDES)
    if "W4" in only and "W4big" not in only and not args.only:
        only.append("W4big")

    server, base_url = _start_server(sizes)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {w: {} for w in only}
    try:
        for workload in only:
            runs = sizes.import_runs if workload == "W6" else sizes.runs
            if workload == "W6":
                for side in SIDES[workload]:  # compile the .pyc files first
                    _run_child(workload, side, base_url, sizes)
            for n in range(runs):
                for side in SIDES[workload]:
                    result = _run_child(workload, side, base_url, sizes)
                    results[workload].setdefault(side, []).append(result)
                    if not args.quiet:
                        shown = (
                            f"cpu {result['cpu']:.4f}s rss {result['maxrss_kib'] / 1024:.1f}MiB"
                            if "cpu" in result
                            else f"error: {result['error']}"
                        )
                        print(f"{workload} {side:<10} run {n + 1}/{runs}: {shown}", flush=True)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "sizes": asdict(sizes),
        "machine": _machine(),
        "targets": _evaluate(results),
        "runs": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = _markdown(report)
    (out / "latest.md").write_text(markdown)
    print()
    print(markdown, end="")
    print(f"\nreports: {out / 'latest.json'}, {out / 'latest.md'}")
    failed = sorted(
        {
            workload
            for workload, sides in results.items()
            for runs in sides.values()
            if any("error" in run for run in runs)
        }
    )
    if failed:
        print(f"runs failed in {', '.join(failed)} (the n/a rows say why)", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the SDK against raw httpx + json.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (a smoke test)")
    parser.add_argument("--only", help="comma-separated workloads, e.g. W1,W2 (W4big: 1 GiB)")
    parser.add_argument("--out", default=str(HERE / "results"), help="report directory")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    for name, field in Sizes.__dataclass_fields__.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", dest=name, type=int, help=f"default {field.default}"
        )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sizes = Sizes(**json.loads(args.sizes))
        result = child_main(args.child[0], args.child[1], args.base_url, sizes)
        print(json.dumps(result))
        return 0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
