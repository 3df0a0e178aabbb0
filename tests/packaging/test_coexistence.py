"""Our wheels in throwaway virtual environments, beside (or instead of) the vendor's SDKs.

``kipu-hub-service`` must coexist with the vendor's ``qhub-api`` / ``qhub-service``: it writes
nothing under ``qhub/``, so the vendor's ``qhub.api.service`` keeps working next to it and after
``pip uninstall`` of ours. The drop-in ``kipu-hub-service-qhub`` provides ``qhub.api.service``
(the reference quickstart runs unchanged) and refuses, loudly, to be imported next to
``qhub-api``. The wheels are built once per session with the dev venv's pinned hatchling; every
environment is installed with ``-c constraints.txt`` (which pins the vendor's versions) and the
usual pip cache. A failed build or install fails the test: nothing here skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from _reference_snippets import QUICKSTART_BASE, SNIPPETS

from kipu_hub_service import HubServiceClient
from kipu_hub_service.testing import running_mock_gateway

pytestmark = [pytest.mark.venv, pytest.mark.timeout(900)]

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
CONSTRAINTS = ROOT / "constraints.txt"
VENDOR = ["qhub-api==3.3.0", "qhub-service==2.0.0"]
BASE_PATH = "/acme/vqe/v1"
TOKEN = "coexistence-token"
EXAMPLE_TOKEN = "YOUR_GATEWAY_TOKEN"
GUARD = "qhub.api.service cannot be imported: two distributions provide it"
# After the quickstart: which SDK answered, and whether ours was loaded at all.
PROBE = """
import sys
print("PROBE TYPE", type(execution).__module__)
print("PROBE ID", execution.id)
print("PROBE OURS_LOADED", "kipu_hub_service" in sys.modules)
"""


@dataclass(frozen=True)
class Wheels:
    main: Path
    dropin: Path


def _run(args: list[str | Path], *, check: bool = True, timeout: float = 600) -> str:
    """Run a command with a clean environment; its output, or an error showing all of it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env
    )
    output = done.stdout + done.stderr
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited with {done.returncode}:\n{output[-6000:]}")
    return output


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    out = tmp_path_factory.mktemp("wheels")
    for project in (ROOT, ROOT / "dropin"):
        _run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, project])
    (main,) = out.glob("kipu_hub_service-*.whl")
    (dropin,) = out.glob("kipu_hub_service_qhub-*.whl")
    return Wheels(main, dropin)


class Venv:
    """A fresh virtual environment (no pip of its own: the dev venv's pip installs into it)."""

    def __init__(self, path: Path) -> None:
        _run([sys.executable, "-m", "venv", "--without-pip", path])
        self.python = path / "bin" / "python"

    def pip(self, *args: str | Path) -> str:
        return _run([sys.executable, "-m", "pip", "--python", self.python, *args])

    def install(self, *requirements: str | Path) -> None:
        self.pip("install", "--quiet", "--no-compile", "-c", CONSTRAINTS, *requirements)
        self.pip("check")

    def run(self, code: str, *, check: bool = True) -> str:
        return _run([self.python, "-c", code], check=check, timeout=120)


@pytest.fixture(scope="module")
def venvs(wheels: Wheels, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    """The three environments, installed side by side (in order within each one)."""
    plans: dict[str, list[list[str | Path]]] = {
        # (a) the vendor's SDKs first, then our main wheel beside them
        "beside_vendor": [[*VENDOR], [wheels.main]],
        # (b) the drop-in (and the main wheel it depends on), no vendor package
        "dropin_alone": [[wheels.main, wheels.dropin]],
        # (c) the vendor's qhub-api first, then the drop-in over it
        "dropin_after_vendor": [[VENDOR[0]], [wheels.main, wheels.dropin]],
    }
    base = tmp_path_factory.mktemp("venvs")

    def make(name: str) -> Venv:
        venv = Venv(base / name)
        for step in plans[name]:
            venv.install(*step)
        return venv

    with ThreadPoolExecutor(len(plans)) as pool:
        return dict(zip(plans, pool.map(make, plans), strict=True))


@pytest.fixture(scope="module")
def beside_vendor(venvs: dict[str, Venv]) -> Venv:
    return venvs["beside_vendor"]


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with running_mock_gateway(base_path=BASE_PATH, tokens=[TOKEN]) as url:
        yield url


def quickstart(gateway: str, *, import_line: str | None = None) -> str:
    """The reference quickstart, verbatim but for the gateway's URL and token, plus PROBE."""
    code = SNIPPETS["quickstart"]
    assert code.count(QUICKSTART_BASE) == 1 and code.count(EXAMPLE_TOKEN) == 1
    code = code.replace(QUICKSTART_BASE, gateway).replace(EXAMPLE_TOKEN, TOKEN)
    if import_line is not None:
        code = code.replace("from qhub.api.service import HubServiceClient", import_line)
    return code + PROBE


def probe(output: str) -> dict[str, str]:
    """The PROBE lines of a quickstart's output, by key."""
    lines = [line.split(" ", 2) for line in output.splitlines() if line.startswith("PROBE ")]
    return {key: value for _, key, value in lines}


def started_on(gateway: str, execution_id: str) -> bool:
    """Whether our mock gateway knows the execution (so the quickstart really ran against it)."""
    with HubServiceClient(base_url=gateway, token=TOKEN) as client:
        return execution_id in {e.id for e in client.service_api.get_service_executions()}


def test_the_wheels_write_nothing_the_vendor_owns(wheels: Wheels) -> None:
    main = {n.split("/")[0] for n in zipfile.ZipFile(wheels.main).namelist()}
    info = {n for n in main if n.endswith(".dist-info")}
    assert main - info == {"kipu_hub_service", "qhub_service_gen"}, main
    assert [n.startswith("kipu_hub_service-") for n in info] == [True], info
    dropin = zipfile.ZipFile(wheels.dropin).namelist()
    code = [n for n in dropin if ".dist-info/" not in n]
    assert code and all(n.startswith("qhub/api/service/") for n in code), code
    assert "qhub/__init__.py" not in dropin and "qhub/api/__init__.py" not in dropin
    for module in ("core/api_error", "core/request_options", "environment", "types", "testing"):
        assert f"qhub/api/service/{module}.py" in dropin
    assert "qhub/api/service/mock/__init__.py" in dropin


def test_vendor_quickstart_runs_beside_ours_against_our_mock(
    beside_vendor: Venv, gateway: str
) -> None:
    found = probe(beside_vendor.run(quickstart(gateway)))
    assert found["TYPE"].startswith("qhub.api.service."), found  # the vendor's own class
    assert found["OURS_LOADED"] == "False"
    assert started_on(gateway, found["ID"])
    # The vendor's service wrapper imports too.
    beside_vendor.run("import qhub.service, qhub.api.service.types")


def test_ours_runs_through_its_own_name_beside_the_vendor(
    beside_vendor: Venv, gateway: str
) -> None:
    code = quickstart(gateway, import_line="from kipu_hub_service import HubServiceClient")
    code += (
        "import kipu_hub_service, qhub.api.service as vendor\n"
        "assert type(execution) is kipu_hub_service.ServiceExecution\n"
        "assert vendor.HubServiceClient is not kipu_hub_service.HubServiceClient\n"
        "print('PROBE VENDOR_FILE', vendor.__file__)\n"
    )
    found = probe(beside_vendor.run(code))
    assert found["OURS_LOADED"] == "True"
    assert started_on(gateway, found["ID"])
    assert "site-packages/qhub/api/service/__init__.py" in found["VENDOR_FILE"]


def test_uninstalling_ours_leaves_the_vendor_working(beside_vendor: Venv, gateway: str) -> None:
    beside_vendor.pip("uninstall", "--yes", "kipu-hub-service")
    beside_vendor.pip("check")
    found = probe(beside_vendor.run(quickstart(gateway)))
    assert found["TYPE"].startswith("qhub.api.service."), found
    assert started_on(gateway, found["ID"])
    beside_vendor.run("import qhub.service")
    gone = beside_vendor.run("import kipu_hub_service", check=False)
    assert "No module named 'kipu_hub_service'" in gone


def test_dropin_alone_runs_the_reference_quickstart_unchanged(
    venvs: dict[str, Venv], gateway: str
) -> None:
    venv = venvs["dropin_alone"]
    code = quickstart(gateway) + (
        "import kipu_hub_service, qhub.api.service as dropin\n"
        "assert type(execution) is kipu_hub_service.ServiceExecution\n"
        "assert dropin.HubServiceClient is kipu_hub_service.HubServiceClient\n"
        "from qhub.api.service.core.api_error import ApiError\n"
        "assert ApiError is kipu_hub_service.ApiError\n"
    )
    found = probe(venv.run(code))
    assert found["OURS_LOADED"] == "True"
    assert started_on(gateway, found["ID"])


def test_dropin_after_the_vendor_refuses_to_import(venvs: dict[str, Venv]) -> None:
    venv = venvs["dropin_after_vendor"]
    for statement in ("import qhub.api.service", "from qhub.api.service.types import LogEntry"):
        failed = venv.run(statement, check=False)
        assert f"ImportError: {GUARD}" in failed, failed
        assert "qhub-api 3.3.0" in failed and "import kipu_hub_service" in failed
        assert "separate environment" in failed
    # Our own import name is unaffected.
    venv.run("import kipu_hub_service; kipu_hub_service.HubServiceClient")
