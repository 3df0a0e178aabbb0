"""`make bench` runs at tiny sizes and writes its reports; the package imports lazily.

No timing is asserted here: the figures are only meaningful on a quiet machine at full size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = {"W1", "W2", "W3", "W4", "W4big", "W5", "W6", "W7"}


def test_quick_bench_runs_every_workload_and_writes_reports(tmp_path: Path) -> None:
    script = str(ROOT / "benchmarks" / "run.py")
    done = subprocess.run(
        [sys.executable, script, "--quick", "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    report = json.loads((tmp_path / "latest.json").read_text())
    assert set(report["runs"]) == WORKLOADS
    for workload, sides in report["runs"].items():
        for side, runs in sides.items():
            assert runs, (workload, side)
            for run in runs:
                assert "error" not in run, (workload, side, run)
                assert run["cpu"] >= 0 and run["maxrss_kib"] > 0, (workload, side, run)
    assert {row["workload"] for row in report["targets"]} == WORKLOADS
    for row in report["targets"]:
        assert isinstance(row["value"], float), row
        assert row["limit"] > 0 and isinstance(row["ok"], bool), row
    assert report["sizes"]["runs"] == 1 and report["machine"]["python"]

    markdown = (tmp_path / "latest.md").read_text()
    assert markdown.startswith("| workload | what | measured | target |")
    for workload in WORKLOADS:
        assert f"| {workload} |" in markdown
    assert "Machine:" in markdown and "Sizes:" in markdown
    assert "latest.md" in done.stdout


def _imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_importing_the_package_loads_neither_httpx_nor_the_models() -> None:
    loaded = _imported_after("import kipu_hub_service")
    assert not {"httpx", "asyncio", "attrs", "qhub_service_gen"} & loaded


def test_the_sync_client_does_not_load_asyncio() -> None:
    loaded = _imported_after("from kipu_hub_service import HubServiceClient")
    assert "httpx" in loaded and "kipu_hub_service.client" in loaded
    assert "asyncio" not in loaded


def test_every_public_name_resolves_lazily() -> None:
    import kipu_hub_service as service

    for name in service.__all__:
        assert getattr(service, name) is not None, name
    assert set(service.__all__) <= set(dir(service))


def test_the_clients_load_no_download_workflow_aiohttp_or_model_machinery() -> None:
    """Downloads, workflows, the aiohttp transport and the generated models load on first use."""
    loaded = _imported_after("from kipu_hub_service import HubServiceClient, AsyncHubServiceClient")
    assert "kipu_hub_service._sync.service_api" in loaded
    assert "kipu_hub_service._async.service_api" in loaded
    later = {
        f"kipu_hub_service.{kind}.{module}"
        for kind in ("_sync", "_async")
        for module in ("download", "workflows")
    }
    later |= {"kipu_hub_service._aiohttp", "aiohttp", "attrs", "qhub_service_gen.models"}
    assert later & loaded == set()
