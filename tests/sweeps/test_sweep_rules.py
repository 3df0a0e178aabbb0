"""The rules of sweeps without I/O: the AIMD gate, the polling rule, Retry-After, the table and
the progress display."""

from __future__ import annotations

import io
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kipu_hub_service._sweep_rules import RateGate, retry_after_seconds
from kipu_hub_service.sweeps import Outcome, Progress, ProgressDisplay, SweepResults, use_list


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_threads_sharing_the_gate_each_get_their_own_slot() -> None:
    """The sync client's worker threads reserve slots at once: at the cut rate no two get the
    same moment, and a 429 noted meanwhile from another thread breaks nothing."""
    clock = Clock()
    gate = RateGate(clock=clock)
    for _ in range(40):
        gate.delay()
    gate.limited(retry_after=5.0)  # 40 a second were sent: cut to 20, held 5 s
    slots: list[float] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can

    def reserve() -> None:
        mine = [gate.delay() for _ in range(300)]
        gate.limited(retry_after=None)  # within the hold: no second cut
        slots.extend(mine)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: reserve(), range(8)))
    finally:
        sys.setswitchinterval(interval)
    assert gate.rate == 20.0
    assert sorted(round((wait - 5.0) * 20.0) for wait in slots) == list(range(8 * 300))


def test_the_gate_is_open_until_a_429_then_halves_holds_and_grows_back() -> None:
    clock = Clock()
    gate = RateGate(clock=clock)
    assert [gate.delay() for _ in range(40)] == [0.0] * 40  # unlimited: 40 sent "now"
    gate.limited(retry_after=2.0)
    assert gate.rate == 20.0  # half of what went out in the last second
    assert gate.delay() == 2.0  # held until Retry-After has passed
    gate.limited(retry_after=2.0)  # a second 429 of the same burst: no second cut
    assert gate.rate == 20.0
    assert gate.delay() == pytest.approx(2.05)  # then spaced at the new rate
    clock.now += 12.0  # ten seconds after the hold, back to where it was cut
    gate.delay()
    assert gate.rate == pytest.approx(20.0 + 2.0 * 10.0, rel=0.1)


def test_a_cut_never_goes_below_the_floor() -> None:
    clock = Clock()
    gate = RateGate(clock=clock)
    gate.limited(None)  # nothing sent yet
    assert gate.rate == RateGate.MIN_RATE
    assert gate.delay() == 1.0  # no Retry-After: held one second


def test_the_polling_rule() -> None:
    assert not use_list(1, None)  # one pending: by id
    assert use_list(2, None)  # unknown list size: taken as the pending count
    assert not use_list(10, 1000)  # a list of 1000 costs 21 status calls: 10 by id is cheaper
    assert use_list(30, 1000)
    assert use_list(1000, 10_000)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "99999"}, 60.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after(headers: dict[str, str] | None, seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def results() -> SweepResults:
    from qhub_service_gen.models import ResultResponse

    ok = ResultResponse.from_dict({"output": {"energy": -1.1}, "_links": {}})
    failed = ResultResponse.from_dict({"error": {"message": "bad"}, "_links": {}})
    return SweepResults(
        [
            Outcome(0, "SUCCEEDED", "e-0", ok, [Path("d/1/result.json")]),
            Outcome(1, "FAILED", "e-1", failed),
            Outcome(2, "ERROR", None, None, [], ValueError("refused")),
        ]
    )


def test_table_rows_are_flat_and_keep_both_errors() -> None:
    rows = results().table()
    assert rows[0] == {
        "index": 0,
        "status": "SUCCEEDED",
        "execution_id": "e-0",
        "files": ["d/1/result.json"],
        "error": None,
        "output": {"energy": -1.1},
    }
    assert rows[1]["error"] is None and rows[1]["result_error"] == {"message": "bad"}
    assert rows[2]["error"] == "ValueError: refused"
    assert [o.index for o in results().succeeded] == [0]
    assert [o.index for o in results().failed] == [1, 2]


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        results().to_pandas()


def test_to_pandas_builds_a_frame_indexed_by_item(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class Frame:
        def __init__(self, rows: list[dict[str, Any]]) -> None:
            self.rows = rows

        def set_index(self, column: str) -> Any:
            made.append((self.rows, column))
            return self

    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(DataFrame=Frame))
    results().to_pandas()
    assert made == [(results().table(), "index")]


def progress(finished: int) -> Progress:
    counts = {"SUCCEEDED": finished, "RUNNING": 3 - finished}
    return Progress(3, counts, 3, finished, 9, 0, 1.0, 3.0, None if not finished else 2.0)


def test_progress_line_has_counts_rate_eta_and_failures() -> None:
    line = progress(1).line()
    assert line == "1/3 done · succeeded 1, running 2 · 3.0 starts/s · ETA 2s · failures 0"
    assert "ETA ?" in progress(0).line()
    retrying = Progress(3, {"RUNNING": 3}, 3, 0, 9, 0, 1.0, 3.0, None, retrying=2)
    assert retrying.line().endswith(" · failures 0 · retrying 2")


def test_display_in_a_jupyter_kernel_updates_one_output(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []

    class Handle:
        def update(self, text: str) -> None:
            shown.append("update " + text)

    def display(text: str, display_id: bool) -> Handle:
        assert display_id is True
        shown.append("display " + text)
        return Handle()

    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "IPython.display", types.SimpleNamespace(display=display))
    stream = io.StringIO()
    view = ProgressDisplay(stream)
    view(progress(0))
    view(progress(0))  # unchanged: not shown again
    view(progress(3))
    assert [entry.split(" ")[0] for entry in shown] == ["display", "update"]
    assert stream.getvalue() == ""


def test_display_in_a_terminal_rewrites_one_line() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with ProgressDisplay(stream) as view:
        view(progress(1))
        view(progress(3))
    text = stream.getvalue()
    assert text.count("\r\x1b[2K") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_display_into_a_file_writes_lines_now_and_then() -> None:
    stream = io.StringIO()
    view = ProgressDisplay(stream, every=3600)
    view(progress(0))
    view(progress(1))  # within the interval: skipped
    view(progress(3))  # the last one is always written
    assert stream.getvalue().count("\n") == 2


def test_cheap_list_polls_may_come_more_often() -> None:
    from kipu_hub_service._sweep_rules import longest_pause

    assert longest_pause(1000, 1000, 2.0) == pytest.approx(2.0 * 21 / 1000)
    assert longest_pause(30, 1000, 2.0) == pytest.approx(2.0 * 21 / 30)
    assert longest_pause(15, 1000, 2.0) == 2.0  # dearer than the polls: never longer
    assert longest_pause(10, None, 2.0) == pytest.approx(2.0 * 1.2 / 10)


def test_a_round_stops_beginning_collections_at_the_due_poll_or_after_the_longest_pause() -> None:
    from kipu_hub_service._sweep_rules import collection_cutoff

    assert collection_cutoff(100.0, 100.5, 2.0) == 100.5  # the next poll comes first
    assert collection_cutoff(100.0, 99.0, 2.0) == 99.0  # a poll is due already
    assert collection_cutoff(100.0, 105.0, 2.0) == 102.0  # outcomes are handed out by then
    assert collection_cutoff(100.0, None, 2.0) == 102.0  # nothing pending: no poll to wait for


def test_an_items_pauses_double_to_5_s_and_ride_out_about_31_s() -> None:
    from kipu_hub_service._sweep_rules import MAX_REQUEST_ATTEMPTS, retry_pause
    from kipu_hub_service.testing import retries_without_delay

    assert [retry_pause(n) for n in range(1, 8)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5])
    ridden = sum(retry_pause(n) for n in range(1, MAX_REQUEST_ATTEMPTS))
    assert 30 <= ridden <= 32  # the outage the docs promise is ridden out
    with retries_without_delay():
        assert retry_pause(3) == 0.0


def test_reprs_stay_short_for_thousands_of_outcomes() -> None:
    from qhub_service_gen.models import ResultResponse

    envelope = ResultResponse.from_dict({"_links": {"status": {"href": "http://gw/e"}}})
    done = Outcome(0, "SUCCEEDED", "e", envelope, [Path("out/1/a.bin")])
    assert repr(done) == (
        "Outcome(index=0, status='SUCCEEDED', execution_id='e', "
        "files=[PosixPath('out/1/a.bin')], error=None)"
    )
    assert done.result is envelope  # left out of the repr only
    many = SweepResults([done] * 2999 + [Outcome(2999, "ERROR")])
    assert repr(many) == "SweepResults(3000 items: 2999 SUCCEEDED, 1 ERROR)"
    assert repr(SweepResults()) == "SweepResults(0 items)"
    assert repr(SweepResults([done])) == "SweepResults(1 item: 1 SUCCEEDED)"
    assert len(str(many)) < 100


def test_rates_are_taken_over_a_second_at_least() -> None:
    import time

    from kipu_hub_service._sweep_items import Item, progress_of

    items = [Item(n, {"input": n}) for n in range(20)]
    done = {n: Outcome(n, "SUCCEEDED") for n in range(5)}
    early = progress_of(items, done, time.monotonic() - 0.01, 30, 0, 10)
    assert early.starts_per_second == pytest.approx(10.0, rel=0.05)  # not 1,000 a second
    assert early.eta == pytest.approx(15 / 5, rel=0.05)  # 15 left at 5 a second
    later = progress_of(items, done, time.monotonic() - 4.0, 30, 0, 10)
    assert later.starts_per_second == pytest.approx(2.5, rel=0.05)
    assert later.eta == pytest.approx(15 / 1.25, rel=0.05)
    assert progress_of(items, {}, 0.0, 0, 0, 0).eta is None  # not begun


def test_what_stops_a_whole_sweep_and_what_ends_one_item() -> None:
    import errno

    from kipu_hub_service._sweep_rules import stops_sweep
    from kipu_hub_service.core.api_error import (
        ApiError,
        AuthenticationError,
        BadRequestError,
        NotFoundError,
        PermissionDeniedError,
    )

    def error(kind: type[ApiError], status: int) -> Exception:
        return kind("refused", status_code=status, method="POST", url="http://gw/")

    assert stops_sweep(error(AuthenticationError, 401), start=False)
    for kind, status in ((PermissionDeniedError, 403), (NotFoundError, 404)):
        assert stops_sweep(error(kind, status), start=True)
        assert not stops_sweep(error(kind, status), start=False)  # one execution's result
    assert not stops_sweep(error(BadRequestError, 400), start=True)  # this input's
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        assert stops_sweep(OSError(code, "full"), start=False)
    assert not stops_sweep(OSError(errno.EACCES, "denied"), start=False)  # one directory
