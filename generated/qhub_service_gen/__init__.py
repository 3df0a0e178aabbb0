"""A client library for accessing Kipu Quantum Hub service gateway.

The SDK's generated layer: ``api`` holds one request builder per operation
(``request_kwargs``), ``models`` the attrs models with their ``from_dict`` parsers, and
``types`` the rules the models share with the SDK (``UNSET``, wire times, result-file names,
terminal statuses, reprs). Nothing here sends a request.
"""
