"""The second process of a parallel catch-up, forked before this process has any other thread.

A second process started as a fresh interpreter (``python -m projections.parallel_rebuild``)
spends most of a second importing the domain, the read models and the driver before it reads
its first event: a fifth of a rebuild of 100,000 events, on the critical path, since it is the
last to finish (docs/benchmarks.md, "Ninth session"). A command that knows it may rebuild (the
CLI's ``projections rebuild``, through ``bootstrap.build_read_models``) forks one at the start
instead, once the modules are imported and before it opens a connection or starts a
thread: the child has everything imported and waits for its request on a pipe.

Only then: a fork of a process with other threads could inherit a lock one of them held (the
child has only the forking thread), and a fork of a process with connections would share their
sockets. So :func:`prefork` forks only when this process has one thread (``/proc/self/task``,
which counts the threads of C libraries too); otherwise, and where there is no ``fork``, the
second process is a fresh interpreter as before.

The child behaves as ``python -m projections.parallel_rebuild`` would: it reads the request
(JSON) on its standard input, writes ``{"processed": n}`` on its standard output or one line on
its standard error, and exits with ``os._exit`` (no interpreter teardown, nothing of the parent's
finalised). If the parent closes the request without writing one (no second process needed),
or dies, the child reads an empty request and exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import suppress
from typing import IO

from projections.parallel_rebuild import answer


def single_threaded() -> bool:
    """True when this process has one thread, counting those Python does not know of."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: what Python knows
        return threading.active_count() == 1


class ForkedWorker:
    """A forked second process waiting for its request; used as ``subprocess.Popen`` is by
    ``parallel_rebuild.catch_up_in_parallel`` (``stdin``, ``stdout``, ``stderr``, ``wait``,
    ``terminate``, ``kill``, ``returncode``)."""

    def __init__(self) -> None:
        requests, self._request_end = os.pipe()
        out_end, out = os.pipe()
        err_end, err = os.pipe()
        sys.stdout.flush()  # what is buffered now must not be written twice
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(self._request_end)
            os.close(out_end)
            os.close(err_end)
            _child(requests, out, err)
        os.close(requests)
        os.close(out)
        os.close(err)
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[str] = os.fdopen(self._request_end, "w")
        self.stdout: IO[str] = os.fdopen(out_end)
        self.stderr: IO[str] = os.fdopen(err_end)

    def wait(self) -> int:
        """Wait for the child to exit; its exit status."""
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if self.returncode is None:
            with suppress(ProcessLookupError):  # exited already; wait() reaps it
                os.kill(self.pid, number)

    def release(self) -> None:
        """Not needed after all: the child reads an empty request and exits."""
        for stream in (self.stdin, self.stdout, self.stderr):
            if not stream.closed:
                stream.close()
        self.wait()

    def __enter__(self) -> ForkedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def prefork() -> ForkedWorker | None:
    """A forked second process, or None where forking is not safe or not possible."""
    if not hasattr(os, "fork") or not single_threaded():
        return None
    return ForkedWorker()


def _child(requests: int, out: int, err: int) -> None:
    """The child: wait for a request, answer it as ``parallel_rebuild.main`` does, exit."""
    code = 1
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        # The standard streams, which nothing in this thread was using when it forked.
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        with open(requests) as pipe:
            request = pipe.read()
        code = answer(request) if request else 0  # empty: released unused
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
