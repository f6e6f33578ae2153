"""Many writers on one conversation database, and writers killed mid-run: nothing lost, nothing duplicated.

Threads and processes run agents (an in-process echo model, ``session_worker.py``) on shared and separate
sessions of one file; processes are killed with SIGKILL inside a tool and inside a stream of saves.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from session_worker import echo_agent

from aiml_agent import SQLiteSession

WORKER = Path(__file__).resolve().parent / "session_worker.py"
TIMEOUT = 120


def start_worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def check_database(path: Path) -> None:
    """The file is intact and every run has exactly the messages it recorded, one after another."""
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = connection.execute("SELECT id, message_count FROM runs ORDER BY id").fetchall()
        for run_id, count in runs:
            ids = [
                row[0] for row in connection.execute("SELECT id FROM messages WHERE run_id = ? ORDER BY id", (run_id,))
            ]
            assert len(ids) == count, f"run {run_id} has {len(ids)} messages, recorded {count}"
            if ids:
                assert ids == list(range(ids[0], ids[0] + count)), f"run {run_id} is not contiguous"
        orphans = connection.execute("SELECT COUNT(*) FROM messages WHERE run_id NOT IN (SELECT id FROM runs)")
        assert orphans.fetchone()[0] == 0


def check_echo_session(session: SQLiteSession, inputs: set[str]) -> None:
    """Each input is in the session exactly once, followed by its own answer; nothing else is."""
    texts = [m.text for m in session.messages()]
    questions = texts[0::2]
    assert sorted(questions) == sorted(inputs)  # none lost, none duplicated, none from another session
    assert texts[1::2] == [f"echo: {q}" for q in questions]
    assert len(session.runs()) == len(inputs)
    assert sum(run.messages for run in session.runs()) == len(texts)


def test_eight_threads_on_one_database_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    runs_each = 25
    shared_object = SQLiteSession("shared-object", path, max_messages=4)  # one object used by two threads
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            if index < 4:  # four threads on one conversation, each with its own connection
                session = SQLiteSession("shared", path, max_messages=4)
            elif index < 6:
                session = shared_object
            else:
                session = SQLiteSession(f"own-{index}", path)
            agent = echo_agent()
            for run in range(runs_each):
                agent.run(f"t{index}-r{run}", session=session)
        except BaseException as error:  # reported below: a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors, errors

    check_database(path)
    expected = {
        "shared": {f"t{i}-r{r}" for i in range(4) for r in range(runs_each)},
        "shared-object": {f"t{i}-r{r}" for i in (4, 5) for r in range(runs_each)},
        "own-6": {f"t6-r{r}" for r in range(runs_each)},
        "own-7": {f"t7-r{r}" for r in range(runs_each)},
    }
    for session_id, inputs in expected.items():
        check_echo_session(SQLiteSession(session_id, path), inputs)
    listed = {s.session_id: s.messages for s in SQLiteSession.list_sessions(path)}
    assert listed == {session_id: 2 * len(inputs) for session_id, inputs in expected.items()}


def test_three_processes_and_a_thread_on_one_conversation_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new" / "c.db"  # the four writers also race to create the folder and the database
    runs_each = 15
    workers = [start_worker("runs", str(path), "crowd", f"p{i}", str(runs_each)) for i in range(3)]
    agent = echo_agent()
    session = SQLiteSession("crowd", path, max_messages=6)
    for run in range(runs_each):  # this process writes at the same time
        agent.run(f"main-r{run}", session=session)
    for process in workers:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0 and stdout.strip() == "done", stderr

    check_database(path)
    inputs = {f"{who}-r{r}" for who in ("p0", "p1", "p2", "main") for r in range(runs_each)}
    check_echo_session(SQLiteSession("crowd", path), inputs)


def test_a_process_killed_inside_a_tool_leaves_the_session_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    process = start_worker("slow-tool", str(path), "s")
    assert process.stdout is not None
    try:
        line = process.stdout.readline()  # blocks until the second run's tool is sleeping
        assert line.strip() == "tool started", process.stderr.read() if process.stderr else ""
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=TIMEOUT)
    assert process.returncode == -signal.SIGKILL

    check_database(path)
    session = SQLiteSession("s", path)
    assert [m.text for m in session.messages()] == ["before the crash", "echo: before the crash"]
    assert len(session.runs()) == 1

    result = echo_agent().run("after the crash", session=session)  # the next run works and sees the first one
    assert [m.text for m in result["messages"]] == [
        "before the crash",
        "echo: before the crash",
        "after the crash",
        "echo: after the crash",
    ]
    assert len(SQLiteSession("s", path).runs()) == 2


@pytest.mark.parametrize("seed", [1, 2])
def test_a_process_killed_while_saving_never_leaves_half_a_run(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "c.db"
    rng = random.Random(seed)
    for _ in range(2):  # killed twice: the second writer starts on what the first one left
        process = start_worker("save-loop", str(path), "s")
        assert process.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        saved = 0
        while saved < 10 and time.monotonic() < deadline:  # let it get going, then kill it at a random moment
            saved = int(process.stdout.readline() or -1) + 1
            assert saved > 0, process.stderr.read() if process.stderr else ""
        time.sleep(rng.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=TIMEOUT)

        check_database(path)
        session = SQLiteSession("s", path)
        texts = [m.text for m in session.messages()]
        assert len(texts) == 5 * len(session.runs()) and len(texts) >= 50
        assert len(set(texts)) == len(texts)  # no message saved twice
