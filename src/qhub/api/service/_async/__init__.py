"""The hand-written source of all I/O code (async); ``_sync/`` is generated from it."""
