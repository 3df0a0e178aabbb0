"""Errors from a real socket (the in-memory error mapping is in tests/unit/test_errors.py)."""

from __future__ import annotations

import pytest
from _client_support import TOKEN

import kipu_hub_service as sdk
from kipu_hub_service import APIConnectionError


def test_unreachable_host_over_the_network_is_a_connection_error() -> None:
    url = "http://127.0.0.1:9/acme"
    client = sdk.HubServiceClient(base_url=url, token=TOKEN, max_retries=0, timeout=5)
    with client, pytest.raises(APIConnectionError):
        client.service_api.get_status("e")
