"""The I/O code of the clients: ``_async/`` is written by hand, ``_sync/`` is generated from
it by ``scripts/unasync.py``."""
