"""A user's type checker sees the SDK's real types, not Any (PEP 561 markers are shipped).

mypy runs as a user would: from a folder outside the repository, without the repository's
mypy configuration (no ``mypy_path``), against the installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GOOD = """\
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kipu_hub_service import HubServiceClient, ServiceExecution, ServiceExecutionStatus


def latest(client: HubServiceClient, execution_id: str) -> ServiceExecutionStatus:
    execution = client.service_api.get_status(execution_id)
    reveal_type(execution)
    result = client.service_api.get_result(execution_id)
    reveal_type(result.links)
    same: ServiceExecution = execution
    return same.status


def data_types(client: HubServiceClient, execution_id: str) -> Mapping[str, Any]:
    execution = client.service_api.get_status(execution_id)
    reveal_type(execution.created)
    reveal_type(execution.duration)
    reveal_type(execution.is_terminal)
    result = client.service_api.get_result(execution_id)
    reveal_type(result.data)
    reveal_type(result.files)
    reveal_type(result.status)
    reveal_type(result.keys())
    return result


def sweeping(client: HubServiceClient) -> None:
    sweep = client.service_api.sweep([{"input": {}}], max_in_flight=8, output_dir="out")
    reveal_type(sweep)
"""

BAD = """\
from __future__ import annotations

from kipu_hub_service import HubServiceClient


def wrong(client: HubServiceClient) -> None:
    ident: int = client.service_api.get_status("a").id
    del ident


def misspelt(client: HubServiceClient) -> None:
    client.service_api.sweep([{"input": {}}], max_inflight=8)
"""


def test_user_code_is_checked_against_the_real_model_types(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYPY")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "good.py",
            "bad.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    lines = proc.stdout.splitlines()
    good = [line.split(": ", 1)[1] for line in lines if line.startswith("good.py:")]
    bad = [line for line in lines if line.startswith("bad.py:") and ": error:" in line]
    assert good == [
        'note: Revealed type is "qhub_service_gen.models.service_execution.ServiceExecution"',
        'note: Revealed type is "None | qhub_service_gen.models.result_response_links.'
        'ResultResponseLinks | qhub_service_gen.types.Unset"',
        'note: Revealed type is "datetime.datetime | None"',
        'note: Revealed type is "datetime.timedelta | None"',
        'note: Revealed type is "bool"',
        'note: Revealed type is "dict[str, Any]"',
        'note: Revealed type is "list[str]"',
        'note: Revealed type is "qhub_service_gen.models.service_execution.ServiceExecution'
        ' | None"',
        'note: Revealed type is "typing.KeysView[str]"',
        'note: Revealed type is "kipu_hub_service._sync.sweep.Sweep"',
    ], proc.stdout + proc.stderr
    assert len(bad) == 2, proc.stdout + proc.stderr
    assert 'expression has type "str", variable has type "int"' in bad[0]
    assert 'Unexpected keyword argument "max_inflight" for "sweep"' in bad[1]
    assert 'did you mean "max_in_flight"?' in bad[1]
    assert proc.returncode == 1, proc.stdout + proc.stderr
