"""One rule for result file names: the facade's ``UnsafeResultFileNameError`` is also the generated
``UnsafeFileNameError`` (one ``except`` catches both), and it refuses exactly the names
``ResultResponse.files`` refuses, with the same reasons."""

from __future__ import annotations

import pickle

import pytest
from qhub_service_gen.types import UnsafeFileNameError

from kipu_hub_service import ApiError, ResultResponse, UnsafeResultFileNameError
from kipu_hub_service._results import result_file_names

NAMES = [
    ["../up"],
    ["a/b"],
    [""],
    ["tab\there"],
    ["n" * 245],
    ["ok.bin", ".ok.bin.part"],
    ["ok.bin", ".ok.bin.part.json"],
    ["bad\ud800"],
]


def envelope(names: list[str]) -> ResultResponse:
    links = {name: {"href": f"/e1/result/{name}"} for name in names}
    return ResultResponse.from_dict({"_links": {"status": {"href": "/e1"}, **links}})


@pytest.mark.parametrize("names", NAMES)
def test_one_except_catches_the_facade_and_the_model_errors(names: list[str]) -> None:
    result = envelope(names)
    with pytest.raises(UnsafeFileNameError) as from_model:
        _ = result.files
    with pytest.raises(UnsafeFileNameError) as from_facade:
        result_file_names(result)
    facade = from_facade.value
    assert isinstance(facade, UnsafeResultFileNameError)
    assert isinstance(facade, ApiError)
    assert isinstance(facade, ValueError)
    assert (facade.name, facade.reason) == (from_model.value.name, from_model.value.reason)
    assert str(facade).endswith("; refusing to write it")
    again = pickle.loads(pickle.dumps(facade))
    assert isinstance(again, UnsafeFileNameError)
    assert (again.name, again.reason, str(again)) == (facade.name, facade.reason, str(facade))
