"""The second process of a parallel catch-up: ``python -m projections.worker`` (JSON on stdin).

Started by :meth:`projections.follower.Projections.catch_up` with ``workers=2``, as a fresh
interpreter (not a fork of a process holding database connections and pool threads, and not a
``multiprocessing`` child that would re-import the caller's main module). It reads
``{"source": "module:Class", "env": {...}, "names": [...], "batch_size": n, "cache_size": n,
"until": n | null, "bulk": bool}`` (``bulk``: a rebuild, see ``Store.bulk_load``), follows the
named read models up to ``until``, and prints ``{"processed": n}``; on failure one line on
stderr and exit status 1.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def _resolve(topic: str) -> Any:
    module, _, name = topic.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def run(request: dict[str, Any]) -> int:
    """Follow the requested read models; returns how many events were processed."""
    from projections.follower import Follower, create_indexes, default_read_models
    from projections.store import open_store

    env = request["env"]
    source = _resolve(request["source"])(env=env)
    store = open_store(env)
    try:
        models = [
            m
            for m in default_read_models(store, cache_size=request["cache_size"])
            if m.name in request["names"]
        ]
        follower = Follower(source, store, models, request["batch_size"])
        if not request.get("bulk"):
            return follower.catch_up(until=request["until"])
        with store.bulk_load():
            processed = follower.catch_up(until=request["until"])
            if not follower.stopped:
                # A rebuild: this process's tables get their indexes now, while the other
                # process may still be following (it creates those of its own tables).
                create_indexes(store, [t for m in models for t in m.tables])
            return processed
    finally:
        store.close()
        close = getattr(source, "close", None)
        if close is not None:
            close()


def main() -> None:
    """Entry point of ``python -m projections.worker``."""
    try:
        processed = run(json.loads(sys.stdin.read()))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        print(f"{type(exc).__name__}: {text[0] if text else ''}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps({"processed": processed}))


if __name__ == "__main__":
    main()
