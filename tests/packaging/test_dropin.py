"""The drop-in ``qhub.api.service`` (dropin/, editable in .venv): the same objects, cheap, guarded.

The throwaway-venv tests (test_coexistence.py) check the built wheels; these check the source
tree quickly: every public module path re-exports ``kipu_hub_service``'s objects, the import
stays lazy, the two distributions share one version, and the guard's message.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import kipu_hub_service

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
PUBLIC_MODULES = [
    "",
    ".client",
    ".core",
    ".core.api_error",
    ".core.request_options",
    ".environment",
    ".types",
    ".testing",
    ".mock",
]


@pytest.mark.parametrize("path", PUBLIC_MODULES)
def test_every_public_path_reexports_the_same_objects(path: str) -> None:
    dropin = importlib.import_module(f"qhub.api.service{path}")
    ours = importlib.import_module(f"kipu_hub_service{path}")
    assert dropin.__file__ and "dropin" in Path(dropin.__file__).parts
    assert dropin.__all__ == ours.__all__ and ours.__all__
    for name in ours.__all__:
        assert getattr(dropin, name) is getattr(ours, name), name


def test_the_dropin_has_no_names_of_its_own() -> None:
    import qhub.api.service as dropin

    assert dropin.HubServiceClient is kipu_hub_service.HubServiceClient
    assert not hasattr(dropin, "_config")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = dropin.nope  # type: ignore[attr-defined]
    assert [n for n in dir(dropin) if not n.startswith("__")] == sorted(kipu_hub_service.__all__)


def _imported_after(statement: str, *extra_path: Path) -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in extra_path)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )


def test_importing_the_dropin_is_as_lazy_as_ours() -> None:
    done = _imported_after("import qhub.api.service")
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "kipu_hub_service" in loaded
    assert not {"httpx", "asyncio", "attrs", "qhub_service_gen"} & loaded


def test_the_guard_refuses_when_the_vendor_distribution_is_installed(tmp_path: Path) -> None:
    # An installed distribution is its .dist-info folder on sys.path: a qhub-api one there is
    # what `pip install qhub-api==3.3.0` leaves behind (its files aside).
    info = tmp_path / "qhub_api-3.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qhub-api\nVersion: 3.3.0\n")
    for statement in ("import qhub.api.service", "import qhub.api.service.core.api_error"):
        done = _imported_after(statement, tmp_path)
        assert done.returncode == 1
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("ImportError: qhub.api.service cannot be imported: two "), last
        assert "kipu-hub-service-qhub" in last and "qhub-api 3.3.0" in last
        assert "separate environment" in last and "import kipu_hub_service" in last
    # Without it, the same import works; our own name works with it.
    assert _imported_after("import qhub.api.service").returncode == 0
    assert _imported_after("import kipu_hub_service", tmp_path).returncode == 0


def test_the_dropin_pins_the_main_distribution_at_its_own_version() -> None:
    main = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dropin = tomllib.loads((ROOT / "dropin" / "pyproject.toml").read_text())["project"]
    assert dropin["version"] == main["version"]
    assert dropin["dependencies"] == [f"{main['name']}=={main['version']}"]
    assert dropin["name"] == "kipu-hub-service-qhub"


def test_a_pytest_plugins_line_naming_the_dropin_module_still_works(tmp_path: Path) -> None:
    # The entry point registers kipu_hub_service.testing; a conftest written for the reference
    # names qhub.api.service.testing: both load, and the fixtures work once.
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["qhub.api.service.testing"]\n')
    (tmp_path / "test_user.py").write_text(
        "from qhub.api.service import HubServiceClient\n\n"
        "def test_user(hub_service_mock_url):\n"
        "    with HubServiceClient(base_url=hub_service_mock_url, token='t') as client:\n"
        "        assert client.service_api.get_service_executions() == []\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
