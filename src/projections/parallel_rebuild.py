"""A catch-up (or rebuild) in two processes: ``python -m projections.parallel_rebuild``.

Each read model has its own tracking row, and the audit trail (the costliest: one ``audit_row``
per event) and the timeline's dose rows (three events in five), with the patients' trials they
both look up, depend on no read model of the others, so a big rebuild can follow them in this
process while a second one follows the rest: two readers, two writers, one commit per batch
each. This process reads every event as stored and decodes none; the second decodes only the
classes its read models take (no dose). The second process starts later (its own connections,
and where it is a fresh interpreter, its imports: most of a second), so it takes the group
with less work (about 35% of the events, the trial overview among them since the second
process is forked: docs/benchmarks.md, "Ninth session").
Used when the backlog exceeds ``PARALLEL_THRESHOLD`` events and the store can be reopened from
its environment (``build_read_models``); ``workers=1`` turns it off.

The second process is forked by the command at its start, before it opened a connection or
started a thread, when it has one thread then (``projections.forked_worker``: the CLI's rebuild,
``build_read_models(fork_second_process=True)``); otherwise a fresh interpreter (never a fork
of a process holding database connections and pool threads, and not a ``multiprocessing``
child that would re-import the caller's main module). Either reads ``{"source":
"module:Class", "env": {...}, "names": [...], "batch_size": n, "cache_size": n, "until": n |
null, "bulk": bool}`` on stdin (``bulk``: a rebuild, see ``Store.bulk_load``), follows the
named read models up to ``until``, and prints ``{"processed": n}`` and exits at once (no
interpreter teardown); on failure one line on stderr and exit status 1.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING, Any, Protocol

from projections.default_models import default_read_models
from projections.runner import Progress, ReadModelRunner
from projections.schema import create_indexes

if TYPE_CHECKING:
    from projections.read_models import ReadModels

PARALLEL_THRESHOLD = 100_000
# The read models a parallel rebuild follows in the calling process; the second follows the rest.
FIRST_GROUP = ("audit_patients", "audit_trail", "timeline_doses")


class SecondProcess(Protocol):
    """What a parallel catch-up uses of its second process: ``subprocess.Popen`` running this
    module, or a ``forked_worker.ForkedWorker``."""

    stdin: IO[str] | None
    stdout: IO[str] | None
    stderr: IO[str] | None
    returncode: int | Any

    def wait(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


def second_group(read_models: ReadModels) -> list[str]:
    """The read models a second process would follow: those outside FIRST_GROUP that it builds
    as this process does (``default_read_models``). Any other (a service's own, such as the
    aggregate index) stays in this process. Empty (no second process) when the store cannot be
    reopened from its environment, or when a read model would look things up in one followed
    by the other process."""
    if read_models.reopen is None or read_models.env is None:
        return []
    built = {(m.name, type(m)) for m in default_read_models(read_models.store)}
    second = {
        m.name
        for m in read_models.models
        if m.name not in FIRST_GROUP and (m.name, type(m)) in built
    }
    for model, reads_from in read_models.runner.reads_from.items():
        if any((name in second) != (model in second) for name in reads_from):
            return []
    return [m.name for m in read_models.models if m.name in second]


def catch_up_in_parallel(
    read_models: ReadModels,
    second: list[str],
    progress: Progress | None,
    until: int | None,
    batch_size: int,
    bulk: bool,
) -> int:
    """Follow the read models named ``second`` (``second_group``) in a second process and
    the others here; events processed."""
    assert read_models.env is not None and read_models.reopen is not None
    first = [m for m in read_models.models if m.name not in second]
    runner = ReadModelRunner(read_models.source, read_models.store, first, batch_size)
    read_models.runner.stopping = runner.stopping  # stop() reaches this process's runner
    reopen = read_models.reopen
    request = {
        "source": f"{reopen.__module__}:{reopen.__qualname__}",
        "env": read_models.env,
        "names": second,
        "batch_size": batch_size,
        "cache_size": read_models.cache_size,
        "until": until,
        "bulk": bulk,
    }
    # A second process forked when the command began (``forked_worker``), or a fresh one.
    spare, read_models.spare = read_models.spare, None
    started: AbstractContextManager[SecondProcess] = spare or subprocess.Popen(
        [sys.executable, "-m", "projections.parallel_rebuild"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with started as worker:
        try:
            assert worker.stdin and worker.stdout and worker.stderr
            worker.stdin.write(json.dumps(request))  # the environment (password): not argv
            worker.stdin.close()
            processed = runner.catch_up(progress, until=until)
            if runner.stopped:
                worker.terminate()  # its open batch rolls back; positions stay consistent
            elif bulk:
                # A rebuild: this process's indexes now, while the worker may still be
                # following (it creates those of its own tables when it is done).
                create_indexes(read_models.store, [t for m in first for t in m.tables])
            err = worker.stderr.read()  # a line at most: no pipe fills while we read
            out = worker.stdout.read()
            worker.wait()
        except BaseException:
            worker.kill()
            raise
        finally:
            read_models.runner.stopping = threading.Event()
    if worker.returncode != 0 and not runner.stopped:
        lines = err.strip().splitlines()
        raise RuntimeError(
            f"the second follower failed: {lines[-1] if lines else worker.returncode}"
        )
    if worker.returncode == 0:
        # This process reads every event; the worker only the classes its models take.
        processed = max(processed, int(json.loads(out)["processed"]))
    return processed


def _resolve(topic: str) -> Any:
    module, _, name = topic.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def run(request: dict[str, Any]) -> int:
    """The second process: follow the requested read models; returns the events processed."""
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
        missing = set(request["names"]) - {m.name for m in models}
        if missing:
            raise ValueError(f"no read model called {', '.join(sorted(missing))}")
        runner = ReadModelRunner(source, store, models, request["batch_size"])
        if not request.get("bulk"):
            return runner.catch_up(until=request["until"])
        with store.bulk_load():
            processed = runner.catch_up(until=request["until"])
            if not runner.stopped:
                # A rebuild: this process's tables get their indexes now, while the other
                # process may still be following (it creates those of its own tables).
                create_indexes(store, [t for m in models for t in m.tables])
            return processed
    finally:
        store.close()
        close = getattr(source, "close", None)
        if close is not None:
            close()


def answer(request: str) -> int:
    """The second process's work for one request (JSON): ``{"processed": n}`` on stdout, or
    one line on stderr; its exit status. Used by ``main`` and by a forked second process."""
    try:
        processed = run(json.loads(request))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        print(f"{type(exc).__name__}: {text[0] if text else ''}", file=sys.stderr)
        return 1
    print(json.dumps({"processed": processed}))
    return 0


def main() -> None:
    """Entry point of ``python -m projections.parallel_rebuild``."""
    code = answer(sys.stdin.read())
    # Done: its commits are in, its connections closed, its output flushed below. The
    # interpreter's teardown (freeing every cached object one by one: a tenth of a second and
    # more after a big rebuild, which the other process waits for) has nothing left to do.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
