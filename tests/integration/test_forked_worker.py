"""The second process of a rebuild forked when the command begins (``projections.forked_worker``):
the same read models as a fresh interpreter builds, on both backends; not forked where the
process has other threads; released unused without a trace; its failure reported as the fresh
one's is. Each case runs in a process of its own (this one has threads: a fork needs none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from adapters.application import DoseLedger
from adapters.bootstrap import build_read_models
from adapters.demo import record_demo_trial


def in_a_process(script: str, url: str) -> dict[str, Any]:
    """Run ``script`` (it sets ``result``) in a fresh interpreter; its ``result``."""
    program = textwrap.dedent(script) + "\nimport json, sys\nprint(json.dumps(result))\n"
    done = subprocess.run(
        [sys.executable, "-c", program, url],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def as_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def test_a_rebuild_with_a_forked_second_process_builds_what_a_fresh_one_builds(
    ledger: DoseLedger, database_url: str
) -> None:
    record_demo_trial(ledger)
    forked = in_a_process(
        """
        import sys
        from adapters.bootstrap import build_read_models
        read_models = build_read_models(sys.argv[1], fork_second_process=True)
        spare = read_models.spare
        done = read_models.rebuild(workers=2)
        result = {
            "forked": spare is not None,
            "taken": read_models.spare is None,
            "pid": getattr(spare, "pid", None),
            "exit": getattr(spare, "returncode", None),
            "workers": done["workers"],
            "dump": read_models.dump(),
        }
        read_models.close()
        """,
        database_url,
    )
    assert forked["forked"] and forked["taken"]
    assert forked["workers"] == 2 and forked["exit"] == 0
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(forked["pid"], os.WNOHANG)

    fresh = build_read_models(database_url)  # this process has threads: a fresh interpreter
    try:
        assert fresh.spare is None
        assert fresh.rebuild(workers=2)["workers"] == 2
        assert forked["dump"] == as_json(fresh.dump())
    finally:
        fresh.close()


def test_no_fork_while_another_thread_runs_and_an_unused_one_exits(sqlite_url: str) -> None:
    result = in_a_process(
        """
        import os, threading, time
        from projections.forked_worker import prefork, single_threaded
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        with_thread = prefork()
        stop.set()
        other.join()
        # join() returns before the OS thread has left /proc/self/task: wait until it has.
        deadline = time.monotonic() + 10
        while not single_threaded() and time.monotonic() < deadline:
            time.sleep(0.01)
        alone = prefork()
        pid = alone.pid
        alone.release()  # never asked: it reads an empty request and exits
        result = {"with_thread": with_thread is None, "exit": alone.returncode}
        """,
        sqlite_url,
    )
    assert result == {"with_thread": True, "exit": 0}


def test_a_forked_second_process_that_fails_is_reported(sqlite_url: str) -> None:
    result = in_a_process(
        """
        import json
        from projections.forked_worker import prefork
        worker = prefork()
        with worker:
            worker.stdin.write(json.dumps({"source": "nowhere:Nothing", "env": {},
                                           "names": [], "batch_size": 1, "cache_size": 1,
                                           "until": None}))
            worker.stdin.close()
            err, out = worker.stderr.read(), worker.stdout.read()
            worker.wait()
        result = {"exit": worker.returncode, "err": err.strip(), "out": out}
        """,
        sqlite_url,
    )
    assert result["exit"] == 1 and result["out"] == ""
    assert result["err"] == "ModuleNotFoundError: No module named 'nowhere'"
