"""``benchmarks/sweeps.py`` (W8-W10) runs at tiny sizes and reports what it counted.

Request counts are asserted (they do not depend on the machine's speed); timings never are.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_sweep_bench_counts_requests_and_rate_limits(tmp_path: Path) -> None:
    script = str(ROOT / "benchmarks" / "sweeps.py")
    files = tmp_path / "files"
    files.mkdir()
    command = [sys.executable, script, "--quick", "--only", "W8,W10", "--out", str(tmp_path)]
    command += ["--files-in", str(files)]
    done = subprocess.run(
        [*command, "--skip", "semaphore64,sweep_nofiles"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "sweeps.json").read_text())
    assert set(report) == {
        "W8 sweep",
        "W8 raw_floor",
        "W8 raw_httpx",
        "W8 fs_floor",
        "W8 gather",
        "W10 sweep",
    }
    floor = report.pop("W8 fs_floor")  # the same file-system work without the SDK
    assert floor["requests"] == 0 and floor["failures"] == 0 and floor["cpu"] > 0
    # each side writes its own files, kept until the workload ends, then removed
    assert floor["files"] == report["W8 sweep"]["files"] == 80  # two result files each
    sweep_cpu = report["W8 sweep"]["cpu_ms_per_execution"]
    for side in ("raw_floor", "raw_httpx"):  # the same outcome without the SDK: same requests,
        raw = report[f"W8 {side}"]  # same files (raw aiohttp, raw httpx)
        assert raw["files"] == 80
        assert raw["by_operation"]["startExecution"] == raw["by_operation"]["getResult"] == 40
        assert raw["by_operation"]["getResultFile"] == 80
        ratio = sweep_cpu / raw["cpu_ms_per_execution"]
        assert report["W8 sweep"][f"cpu_over_{side}"] == ratio  # one run each
        assert f"W8: the sweep's CPU is {ratio:.2f}x {side}'s (same run)" in done.stdout
    assert report["W8 gather"]["files"] >= 80  # plus records: download_all keeps them
    assert report["W10 sweep"]["files"] == 80
    assert list(files.iterdir()) == []
    for name, figures in report.items():
        assert figures["failures"] == 0 and figures["executions"] == 40, name
        assert figures["cpu"] > 0 and figures["rss_mib"] > 0, name
    assert report["W8 sweep"]["requests_per_execution"] <= 4.3
    assert report["W8 gather"]["requests_per_execution"] >= 5  # each execution polled alone
    assert report["W8 sweep"]["by_operation"]["getResult"] == 40  # once per execution
    w10 = report["W10 sweep"]
    # at 40 executions only the first burst (at most the 16 requests in flight) may overrun;
    # the 5 % goal is for the full 500
    assert w10["rate_limited_share"] * w10["requests"] <= 16 + 4
    assert "| W10 | sweep | 40 |" in done.stdout


def test_repeated_runs_report_the_run_of_median_cpu(tmp_path: Path) -> None:
    script = str(ROOT / "benchmarks" / "sweeps.py")
    files = tmp_path / "files"
    files.mkdir()
    command = [sys.executable, script, "--quick", "--only", "W8", "--repeat", "3"]
    command += ["--skip", "sweep_nofiles,raw_floor,raw_httpx,gather,semaphore64"]
    command += ["--out", str(tmp_path), "--files-in", str(files)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "sweeps.json").read_text())
    assert set(report) == {"W8 sweep", "W8 fs_floor"}
    for name, figures in report.items():
        runs = figures["cpu_ms_runs"]
        assert len(runs) == 3, name
        assert figures["cpu_ms_per_execution"] == sorted(runs)[1], name  # the median run's
        assert figures["files"] == 80 and figures["failures"] == 0, name
    assert list(files.iterdir()) == []  # all three runs' files removed at the end
    assert "(3 runs: " in done.stdout


def test_the_median_run_is_one_real_run() -> None:
    spec = importlib.util.spec_from_file_location("bench_sweeps", ROOT / "benchmarks/sweeps.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    median_run = bench.median_run
    runs = [{"cpu_ms_per_execution": cpu, "wall": wall} for cpu, wall in [(3, 30), (1, 10)]]
    assert median_run(runs) == {"cpu_ms_per_execution": 1, "wall": 10, "cpu_ms_runs": [3, 1]}
    runs.append({"cpu_ms_per_execution": 2, "wall": 20})
    assert median_run(runs) == {"cpu_ms_per_execution": 2, "wall": 20, "cpu_ms_runs": [3, 1, 2]}


def test_the_sweep_over_its_floor_pairs_the_runs_it_ran_next_to() -> None:
    spec = importlib.util.spec_from_file_location("bench_sweeps", ROOT / "benchmarks/sweeps.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # a slow second run slows both sides: paired, it does not move the ratio
    sweep = {"cpu_ms_runs": [2.0, 3.0, 2.2], "cpu_ms_per_execution": 2.2}
    floor = {"cpu_ms_runs": [1.0, 1.5, 1.0], "cpu_ms_per_execution": 1.0}
    assert bench.over_floor(sweep, floor) == 2.0  # median of 2.0, 2.0, 2.2; not 2.2 / 1.0
    assert bench.over_floor({"cpu_ms_runs": [3.0]}, {"cpu_ms_runs": [1.5]}) == 2.0
