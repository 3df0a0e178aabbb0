from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpx

from ... import errors
from ...models.error import Error
from ...models.request_body import RequestBody
from ...models.service_execution import ServiceExecution
from ...types import UNSET, Response, Unset

if TYPE_CHECKING:
    from ...client import AuthenticatedClient, Client


def _get_kwargs(
    *,
    body: RequestBody,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Error | ServiceExecution | None:
    if response.status_code == 201:
        response_201 = ServiceExecution.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Error.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Error.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Error.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Error.from_dict(response.json())

        return response_409

    if response.status_code == 429:
        response_429 = Error.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = Error.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Error.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Error | ServiceExecution]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RequestBody,
    idempotency_key: str | Unset = UNSET,
) -> Response[Error | ServiceExecution]:
    """Start a service execution

     Starts an execution that is processed asynchronously. The returned execution
    is not yet terminal: poll `getStatus` until it is, then read `getResult`.

    The body is free-form JSON. Two top-level keys are reserved by the gateway:
    `input`, the service-specific payload, and `inputDataRefs`, references to
    data-pool files. Every other key is forwarded verbatim to the service.

    A client that may retry sends an `Idempotency-Key`: the gateway answers every
    request carrying the same key with the same execution.

    Args:
        idempotency_key (str | Unset):
        body (RequestBody): The free-form JSON body of `startExecution`. `input` and
            `inputDataRefs` are
            reserved by the gateway; everything else is forwarded to the service.
             Example: {'input': {'molecule': 'H2'}, 'tags': ['demo']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | ServiceExecution]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: RequestBody,
    idempotency_key: str | Unset = UNSET,
) -> Error | ServiceExecution | None:
    """Start a service execution

     Starts an execution that is processed asynchronously. The returned execution
    is not yet terminal: poll `getStatus` until it is, then read `getResult`.

    The body is free-form JSON. Two top-level keys are reserved by the gateway:
    `input`, the service-specific payload, and `inputDataRefs`, references to
    data-pool files. Every other key is forwarded verbatim to the service.

    A client that may retry sends an `Idempotency-Key`: the gateway answers every
    request carrying the same key with the same execution.

    Args:
        idempotency_key (str | Unset):
        body (RequestBody): The free-form JSON body of `startExecution`. `input` and
            `inputDataRefs` are
            reserved by the gateway; everything else is forwarded to the service.
             Example: {'input': {'molecule': 'H2'}, 'tags': ['demo']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | ServiceExecution
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RequestBody,
    idempotency_key: str | Unset = UNSET,
) -> Response[Error | ServiceExecution]:
    """Start a service execution

     Starts an execution that is processed asynchronously. The returned execution
    is not yet terminal: poll `getStatus` until it is, then read `getResult`.

    The body is free-form JSON. Two top-level keys are reserved by the gateway:
    `input`, the service-specific payload, and `inputDataRefs`, references to
    data-pool files. Every other key is forwarded verbatim to the service.

    A client that may retry sends an `Idempotency-Key`: the gateway answers every
    request carrying the same key with the same execution.

    Args:
        idempotency_key (str | Unset):
        body (RequestBody): The free-form JSON body of `startExecution`. `input` and
            `inputDataRefs` are
            reserved by the gateway; everything else is forwarded to the service.
             Example: {'input': {'molecule': 'H2'}, 'tags': ['demo']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | ServiceExecution]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: RequestBody,
    idempotency_key: str | Unset = UNSET,
) -> Error | ServiceExecution | None:
    """Start a service execution

     Starts an execution that is processed asynchronously. The returned execution
    is not yet terminal: poll `getStatus` until it is, then read `getResult`.

    The body is free-form JSON. Two top-level keys are reserved by the gateway:
    `input`, the service-specific payload, and `inputDataRefs`, references to
    data-pool files. Every other key is forwarded verbatim to the service.

    A client that may retry sends an `Idempotency-Key`: the gateway answers every
    request carrying the same key with the same execution.

    Args:
        idempotency_key (str | Unset):
        body (RequestBody): The free-form JSON body of `startExecution`. `input` and
            `inputDataRefs` are
            reserved by the gateway; everything else is forwarded to the service.
             Example: {'input': {'molecule': 'H2'}, 'tags': ['demo']}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | ServiceExecution
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
