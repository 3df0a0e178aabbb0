"""A sweep in its own process, for the crash tests: ``python sweep_child.py URL JOURNAL DIR N``.

Runs ``N`` small executions through ``HubServiceClient.service_api.sweep`` with the journal and
output directory given, printing ``done <finished>`` after each outcome; exit code 0 when all
succeeded, 1 otherwise.
"""

from __future__ import annotations

import sys

from kipu_hub_service import HubServiceClient


def main() -> int:
    url, journal, directory, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    bodies = [{"input": {"n": n, "result_size": 64}} for n in range(count)]
    with HubServiceClient(base_url=url, token="sweep-token-0123456789") as client:
        job = client.service_api.sweep(
            bodies, journal=journal, output_dir=directory, max_in_flight=4, poll_interval=0.05
        )
        for finished, _ in enumerate(job.as_completed(), 1):
            print(f"done {finished}", flush=True)
        return 0 if all(outcome.ok for outcome in job.results()) else 1


if __name__ == "__main__":
    sys.exit(main())
