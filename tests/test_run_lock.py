"""One process trains a run folder at a time (its ``.lock``), and ``reproduce --jobs`` workers die with the
``reproduce`` process, so that no orphan keeps writing a run folder that a new command resumes."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import cli_error, worker_job
from stnlab.errors import StnlabError
from stnlab.experiments.workers import run_in_processes
from stnlab.train.checkpoint import LOCK_FILE, prepare_run_folder, run_folder_lock
from test_train_errors import TINY, make_run


def test_a_run_folder_being_trained_refuses_a_second_trainer(capsys, tmp_path):
    run = make_run(tmp_path / "run")
    with run_folder_lock(run):
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.name != LOCK_FILE}
        for args in (["--resume"], ["--model", "CNN", "--dataset", "mnist", "--force", *TINY]):
            err = cli_error(capsys, "train", "--out", run, "--no-progress", *args)
            assert f"run folder {run} is being trained by another process (pid {os.getpid()})" in err
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != LOCK_FILE} == before  # untouched
    with run_folder_lock(run):  # released when its holder is done, and the folder is left as it was
        pass
    assert not (run / LOCK_FILE).exists()


def test_a_stale_lock_file_neither_blocks_nor_makes_a_folder_a_run(tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / LOCK_FILE).write_text("999999\n")  # left by a process that died
    prepare_run_folder(fresh, force=False, resume=False)  # still an empty folder: no --force needed
    with run_folder_lock(fresh):
        assert (fresh / LOCK_FILE).read_text() == f"{os.getpid()}\n"


def _alive(pid: int) -> bool:
    """Running (not a zombie nobody has reaped yet)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_worker_process_dies_with_its_reproduce_process(tmp_path):
    """A busy worker (training: it reads no queue) leaves when its parent is SIGKILLed (PR_SET_PDEATHSIG)."""
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from stnlab.experiments.workers import run_in_processes
        from helpers import worker_job

        if __name__ == "__main__":
            list(run_in_processes(worker_job, [("sleep", {str(pid_file)!r})], 1))
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        assert _alive(worker)
    finally:
        parent.kill()  # SIGKILL: no handler of the parent can run
        parent.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


def test_a_failing_job_stops_a_training_one_which_saves_first_and_nothing_hangs(tmp_path):
    """The hang this replaced: a pool worker that took SIGTERM as "save and stop" then waited for ever on the
    pool's queue lock. Here the failing job's error arrives, the other job saved on its SIGTERM, and both
    processes are gone, long before the SIGKILL deadline."""
    marker = tmp_path / "train"
    start = time.monotonic()
    with pytest.raises(StnlabError, match="fails on purpose"):
        list(run_in_processes(worker_job, [("train", marker), ("fail", 3.0)], 2, grace=60))
    assert time.monotonic() - start < 50
    assert (tmp_path / "train.started").is_file()  # it was training when the other failed
    assert marker.read_text() == f"saved after signal {int(signal.SIGTERM)}"
    assert not multiprocessing.active_children()


def test_worker_processes_return_every_result_each_on_its_own_cores():
    jobs = [("value", k) for k in range(5)]
    assert sorted(run_in_processes(worker_job, jobs, 2)) == [(k, k) for k in range(5)]
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2:
        cores = [c for _, c in run_in_processes(worker_job, [("cores", None)] * 2, 2)]
        assert all(len(c) == len(os.sched_getaffinity(0)) // 2 for c in cores) and not set(cores[0]) & set(cores[1])
    with pytest.raises(StnlabError, match="jobs must be >= 1"):
        list(run_in_processes(worker_job, jobs, 0))


def test_two_reproduce_commands_share_a_queue_a_run_being_trained_is_skipped(capsys, tmp_path):
    """A cell whose run folder another live process holds is skipped (said), not failed: two identical
    `reproduce` commands then work through one queue; the cells come in the order --cell names them."""
    from stnlab.experiments import get_table, run_dir, run_table, select_cells

    table = get_table("mnist-rst")
    assert [c.model for c in select_cells(table, ["mnist-rot/STN-SL1", "mnist-rot/CNN"])] == ["STN-SL1", "CNN"]
    cells = ["mnist-rot/STN-SL1", "mnist-rot/CNN"]
    busy = run_dir(table, table.cell("STN-SL1", "R"), tmp_path, "smoke", 0)
    with run_folder_lock(busy):
        out = run_table(table, tmp_path, budget="smoke", cells=cells, progress=True)
    assert out["mnist-rot/STN-SL1"] == [None] and out["mnist-rot/CNN"][0]["split"] == "test"
    assert f"skipping: run folder {busy} is being trained by another process" in capsys.readouterr().out
    assert not (busy / "config.json").exists()  # the holder's folder is left alone
