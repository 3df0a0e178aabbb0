"""A client library for accessing Kipu Quantum Hub service gateway"""

from .client import AuthenticatedClient, Client

__all__ = (
    "AuthenticatedClient",
    "Client",
)
