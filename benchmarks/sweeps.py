"""Sweep workloads W8-W10 (``make bench``): many executions against the mock gateway.

Each side runs in a fresh client process against a fresh mock gateway process, so the client's
CPU and peak RSS are its own and the gateway's request counts (``GET /_mock/stats``) belong to
that side alone.

- W8: 1,000 executions (pending 1 s, running 8 s, 256-byte result files), downloads included,
  through ``service_api.sweep`` (``sweep_nofiles``: the same without downloads; ``raw_floor``:
  the same outcome with raw aiohttp, ``json`` and plain ``os`` calls, no SDK, the floor the
  sweep's CPU is also reported over; ``raw_httpx``: the same with raw httpx, the floor of
  ``benchmarks/run.py``; ``fs_floor``: the file-system work of those downloads
  done with plain ``os`` calls, no SDK); "today" is
  ``asyncio.gather`` of ``run()`` + ``download_all_result_files``, unbounded and behind a
  semaphore of 64, in the same run.
- W9: 10,000 executions, the same way (sweep only).
- W10: 500 executions (pending 0.5 s, running 2 s) against a gateway that answers 429 past
  100 requests a second.

    python benchmarks/sweeps.py                 # all, report in benchmarks/results/
    python benchmarks/sweeps.py --only W10      # one workload
    python benchmarks/sweeps.py --quick         # tiny sizes: a smoke test
    python benchmarks/sweeps.py --files-in DIR  # result files under DIR (default: the temp dir)
    python benchmarks/sweeps.py --repeat 5      # runs per side (default: W8 3, others 1)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789"
RESULT_SIZE = 256

WORKLOADS: dict[str, dict[str, Any]] = {
    "W8": {"count": 1000, "pending": 1.0, "running": 8.0, "rate": None, "repeat": 3,
           "sides": ["sweep", "sweep_nofiles", "raw_floor", "raw_httpx", "fs_floor", "gather",
                     "semaphore64"]},
    "W9": {"count": 10_000, "pending": 1.0, "running": 8.0, "rate": None, "repeat": 1,
           "sides": ["sweep"]},
    "W10": {"count": 500, "pending": 0.5, "running": 2.0, "rate": 100.0, "repeat": 1,
            "sides": ["sweep"]},
}  # fmt: skip
"""``repeat``: runs of each side (interleaved); the report keeps the run of median CPU. W8's
goal is a CPU figure, which moves by a tenth or more from run to run on a shared machine; the
others' goals are counts."""
QUICK = {"W8": 40, "W9": 200, "W10": 40}
"""Executions per workload with ``--quick``, which also shortens them to 0.1 s + 0.3 s."""
QUICK_TIMING = (0.1, 0.3)


def serve(pending: float, running: float, rate: float | None) -> None:
    """The mock gateway process: prints its URL, serves until stdin closes."""
    from kipu_hub_service.mock import RateLimit, Timing
    from kipu_hub_service.testing import mock_gateway

    limit = None if rate is None else RateLimit(rate=rate)
    gateway = mock_gateway(
        tokens=[TOKEN], timing=Timing(pending=pending, running=running), rate_limit=limit
    )
    print(gateway.url, flush=True)
    sys.stdin.read()
    gateway.stop()


def _bodies(count: int) -> list[dict[str, Any]]:
    return [{"input": {"n": n, "result_size": RESULT_SIZE}} for n in range(count)]


async def _sweep(url: str, count: int, out: str | None) -> int:
    from kipu_hub_service import AsyncHubServiceClient

    async with AsyncHubServiceClient(base_url=url, token=TOKEN) as client:
        results = await client.service_api.sweep(_bodies(count), output_dir=out).results()
    return len(results.failed)


async def _gather(url: str, count: int, out: str, limit: int | None) -> int:
    from kipu_hub_service import AsyncHubServiceClient

    gate = asyncio.Semaphore(limit or count)
    async with AsyncHubServiceClient(base_url=url, token=TOKEN) as client:
        api = client.service_api

        async def one(n: int, body: dict[str, Any]) -> None:
            async with gate:
                result = await api.run(request=body)
                if not (result.embedded and result.embedded.status and result.embedded.status.id):
                    raise RuntimeError("the result names no execution")
                execution_id = result.embedded.status.id
                await api.download_all_result_files(execution_id, f"{out}/{n + 1}")

        done = await asyncio.gather(
            *(one(n, body) for n, body in enumerate(_bodies(count))), return_exceptions=True
        )
    return sum(1 for outcome in done if isinstance(outcome, BaseException))


def _save(directory: str, name: str, data: bytes) -> None:
    """A file as the floors write it: created under a temp name with ``O_EXCL``, written,
    flushed with ``fsync`` and renamed."""
    part = os.path.join(directory, f".{name}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, os.path.join(directory, name))


def _fs_floor(count: int, out: str) -> int:
    """What W8's saves ask of the file system, done raw in the same place: per execution a
    directory and two files (``_save``). Its CPU is the floor under the sweep's own, which
    moves with the disk's state from run to run."""
    payload = bytes(RESULT_SIZE)
    for n in range(count):
        directory = os.path.join(out, str(n + 1))
        os.mkdir(directory)
        for name in ("result.json", "result.bin"):
            _save(directory, name, payload)
    return 0


ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


async def _raw_floor(url: str, count: int, out: str, library: str = "aiohttp") -> int:
    """The sweep's outcome with no SDK, the least a hand-written client could spend: raw
    aiohttp (``raw_floor``) or raw httpx (``raw_httpx``), 64 requests in flight, ``json`` and
    ``_save``. Every execution is started, the list is read once a second until all have
    ended, then each result is read and its files saved in ``out/<n>/``. No retries, no
    checks, no journal; the failures are counted."""
    import aiohttp
    import httpx

    gate = asyncio.Semaphore(64)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        httpx.AsyncClient(headers=headers, limits=limits) as client,
    ):

        async def send(method: str, target: str, body: Any = None) -> bytes:
            async with gate:
                if library == "httpx":
                    response = await client.request(method, target, json=body)
                    response.raise_for_status()
                    return response.content
                async with session.request(method, target, json=body) as answer:
                    answer.raise_for_status()
                    return await answer.read()

        async def get(target: str) -> bytes:
            return await send("GET", target)

        async def start(body: dict[str, Any]) -> str:
            started: str = json.loads(await send("POST", f"{url}/", body))["id"]
            return started

        async def collect(n: int, execution_id: str) -> None:
            result = json.loads(await get(f"{url}/{execution_id}/result"))
            directory = os.path.join(out, str(n + 1))
            os.mkdir(directory)
            for name, link in result["_links"].items():
                if name != "status":
                    _save(directory, name, await get(link["href"]))

        ids = await asyncio.gather(*(start(body) for body in _bodies(count)))
        while True:
            await asyncio.sleep(1.0)
            listed = json.loads(await get(f"{url}/"))
            if {item["id"] for item in listed if item["status"] in ENDED} >= set(ids):
                break
        done = await asyncio.gather(
            *(collect(n, execution_id) for n, execution_id in enumerate(ids)),
            return_exceptions=True,
        )
    return sum(1 for outcome in done if isinstance(outcome, BaseException))


def child(side: str, url: str, count: int, out: str) -> dict[str, Any]:
    """One side in this process, its files in ``out`` (a fresh directory): wall time, CPU,
    peak RSS, failures.

    The SDK is imported before the clocks start (its CPU is ``import_cpu``, paid once per
    process, not per execution)."""
    began = time.process_time()
    import kipu_hub_service  # what a user imports
    import kipu_hub_service._async.download  # loaded by the first download
    import kipu_hub_service._async.sweep  # noqa: F401
    from kipu_hub_service._backend import AsyncBackend

    AsyncBackend.default_transport()  # imports aiohttp, as the first client would
    imported = time.process_time() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began, cpu = time.perf_counter(), time.process_time()
    if side == "fs_floor":
        failures = _fs_floor(count, out)
    elif side in ("raw_floor", "raw_httpx"):
        library = "httpx" if side == "raw_httpx" else "aiohttp"
        failures = asyncio.run(_raw_floor(url, count, out, library))
    elif side.startswith("sweep"):
        failures = asyncio.run(_sweep(url, count, None if side == "sweep_nofiles" else out))
    else:
        failures = asyncio.run(_gather(url, count, out, 64 if side == "semaphore64" else None))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    written = sum(len(names) for _, _, names in os.walk(out))
    return {
        "wall": wall,
        "cpu": cpu,
        "user_cpu": after.ru_utime - usage.ru_utime,
        "system_cpu": after.ru_stime - usage.ru_stime,
        "import_cpu": imported,
        "rss_mib": peak / 1024,
        "failures": failures,
        "files": written,
    }


def _stats(url: str) -> dict[str, Any]:
    root = url.split("/", 3)[:3]
    request = urllib.request.Request(
        "/".join(root) + "/_mock/stats", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        stats: dict[str, Any] = json.load(answer)
    return stats


def run_side(workload: str, side: str, count: int, out: str, quick: bool = False) -> dict[str, Any]:
    """One side in a fresh client process against a fresh mock process, its files in ``out``
    (a directory that must not exist yet)."""
    spec = dict(WORKLOADS[workload])
    if quick:
        spec["pending"], spec["running"] = QUICK_TIMING
    args = [str(spec["pending"]), str(spec["running"]), str(spec["rate"] or 0)]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        done = subprocess.run(
            [sys.executable, __file__, "--child", side, url, str(count), out],
            capture_output=True,
            text=True,
            check=True,
        )
        figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        stats = _stats(url)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=60)
    requests = sum(stats["requests"].values())
    limited = sum(stats.get("rate_limited", {}).values())
    figures.update(
        requests=requests,
        requests_per_execution=requests / count,
        rate_limited_share=limited / requests if requests else 0.0,
        executions=stats["executions_created"],
        execution_seconds=spec["pending"] + spec["running"],
        cpu_ms_per_execution=1000 * figures["cpu"] / count,
        by_operation=stats["requests"],
    )
    return figures


def _row(workload: str, side: str, count: int, f: dict[str, Any]) -> str:
    runs = f["cpu_ms_runs"]
    spread = f" ({len(runs)} runs: {min(runs):.2f}-{max(runs):.2f})" if len(runs) > 1 else ""
    return (
        f"| {workload} | {side} | {count} | {f['requests_per_execution']:.2f} "
        f"| {f['wall']:.1f} s ({f['wall'] / f['execution_seconds']:.2f}x) "
        f"| {f['cpu_ms_per_execution']:.2f} ms{spread} | {f['rss_mib']:.0f} MiB "
        f"| {f['failures']} | {100 * f['rate_limited_share']:.1f} % |"
    )


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median CPU (the lower middle one of an even count), with every run's CPU per
    execution as ``cpu_ms_runs``, in the order they ran."""
    ranked = sorted(runs, key=lambda run: run["cpu_ms_per_execution"])
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    chosen["cpu_ms_runs"] = [run["cpu_ms_per_execution"] for run in runs]
    return chosen


def over_floor(sweep: dict[str, Any], floor: dict[str, Any]) -> float:
    """The median over runs of the sweep's CPU per execution over a floor's in the same
    run (the two sides run within a minute of each other): a figure that moves less with the
    machine's speed than either one."""
    pairs = zip(sweep["cpu_ms_runs"], floor["cpu_ms_runs"], strict=True)
    ratio: float = statistics.median(mine / raw for mine, raw in pairs)
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sweep workloads W8-W10 against the mock.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--only", help="comma-separated workloads, e.g. W8,W10")
    parser.add_argument("--skip", help="comma-separated sides to leave out, e.g. semaphore64")
    parser.add_argument("--out", default=str(HERE / "results"), help="report directory")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--files-in",
        default=tempfile.gettempdir(),
        help="where the sides write their result files (default: the temp directory)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each side, the run of median CPU reported (default: the workload's; "
        "1 with --quick)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        pending, running, rate = (float(value) for value in args.serve)
        serve(pending, running, rate or None)
        return 0
    if args.child:
        side, url, count, out = args.child
        os.mkdir(out)
        print(json.dumps(child(side, url, int(count), out)))
        return 0
    chosen = args.only.split(",") if args.only else list(WORKLOADS)
    skipped = set(args.skip.split(",")) if args.skip else set()
    lines = [
        "| workload | side | executions | requests/execution | wall (x one execution) "
        "| client CPU/execution | peak RSS | failures | 429 share |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    report: dict[str, Any] = {}
    notes: list[str] = []
    for workload in chosen:
        count = QUICK[workload] if args.quick else WORKLOADS[workload]["count"]
        repeat = args.repeat or (1 if args.quick else WORKLOADS[workload]["repeat"])
        sides = [side for side in WORKLOADS[workload]["sides"] if side not in skipped]
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        # Every run's files stay until the workload ends: on ext4 without a journal, files
        # created near thousands just deleted cost several times the CPU (docs/performance.md).
        with tempfile.TemporaryDirectory(dir=args.files_in) as files:
            for run in range(repeat):
                for side in sides:
                    out = os.path.join(files, f"{side}-{run + 1}")
                    runs[side].append(run_side(workload, side, count, out, args.quick))
        for side in sides:
            figures = report[f"{workload} {side}"] = median_run(runs[side])
            lines.append(_row(workload, side, count, figures))
            print(lines[-1], flush=True)
        for floor in ("raw_floor", "raw_httpx"):
            if "sweep" in runs and floor in runs:
                ratio = over_floor(report[f"{workload} sweep"], report[f"{workload} {floor}"])
                report[f"{workload} sweep"][f"cpu_over_{floor}"] = ratio
                notes.append(f"{workload}: the sweep's CPU is {ratio:.2f}x {floor}'s (same run)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweeps.json").write_text(json.dumps(report, indent=2))
    print("\n".join([*lines, "", *notes]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
