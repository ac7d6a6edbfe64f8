"""Persistence: the eventsourcing library configured for doseledger's stores.

- ``environment``: the settings as the library's environment (``persistence_env``).
- ``factories``: the library's SQLite and PostgreSQL factories, building the recorders below
  with the audit key (``audit_key``).
- ``sqlite_recorder``, ``postgres_recorder``: the library's recorders, writing the audit chain
  (``audit_hashing``: the hashes and rows; ``audit_table``: the chain table) and marking an
  Idempotency-Key's claim (``claim_fence``) in the events' transaction.
- ``audit_verifier``: ``audit verify``.
- ``transcodings``: value types our events carry beyond the library's defaults.
- ``caching``: the application's snapshots (``snapshots``, ``state_codec``) and the aggregate
  cache's copies (``state_copy``).
"""
