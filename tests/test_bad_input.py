"""Bad inputs and faults, one row each: the command exits 2 with one line naming the problem and the fix, no
traceback, and leaves no half-written file (no ``*.part``, no output where a rejected command would write;
what existed before is unchanged). Tiny synthetic data (no data root needed)."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stnlab.io
import stnlab.train.checkpoint as checkpoint
from helpers import cli_error, make_image_folder
from stnlab.cli import main
from stnlab.io import write_json
from stnlab.train import build_config, build_model, save_checkpoint

torch.set_num_threads(2)

TINY = ["--set", "batch_size=8", "--set", "eval_batch_size=32", "--set", "threads=1", "--no-progress"]


def npz_data(path: Path, n: int = 60, blank: bool = False) -> Path:
    """``n`` 24x24 images of 3 classes (a bright band per class; all black with ``blank``) as an .npz file."""
    y = np.arange(n) % 3
    x = np.zeros((n, 24, 24), np.uint8)
    if not blank:
        for c in range(3):
            x[y == c, :, 8 * c:8 * c + 8] = 220
    np.savez(path, x_train=x, y_train=y)
    return path


def made_run(tmp: Path, step: int = 4, total: int = 8, name: str = "run") -> Path:
    """A run folder written by hand: config.json, last.pt and best.pt at ``step`` of ``total``."""
    cfg = build_config({"model": "CNN", "dataset": f"npz:{npz_data(tmp / 'd.npz')}", "batch_size": 8})
    run = tmp / name
    run.mkdir()
    write_json(run / "config.json", cfg.to_dict())
    state = {"model_name": "CNN", "dataset": cfg.dataset, "config": cfg.to_dict(), "step": step, "total": total,
             "model": build_model(cfg).state_dict()}
    for file in ("last.pt", "best.pt"):
        save_checkpoint(run / file, state)
    return run


def train_args(tmp: Path, *extra: str) -> list[str]:
    return ["train", "--model", "CNN", "--dataset", f"npz:{npz_data(tmp / 'd.npz')}", *TINY, *extra]


class Evil:
    """Unpickling it would call ``Path.touch`` on a marker file: code in a checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def binary_config(tmp: Path, mp) -> list[str]:
    (tmp / "c.json").write_bytes(bytes(range(256)))
    return train_args(tmp, "--config", tmp / "c.json", "--out", tmp / "out")


def run_config_not_utf8(tmp: Path, mp) -> list[str]:
    run = made_run(tmp)
    (run / "config.json").write_bytes(b'{"model": "CNN\xff"}')
    return ["eval", run]


def resume_config_not_utf8(tmp: Path, mp) -> list[str]:
    run = made_run(tmp)
    (run / "config.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return ["train", "--resume", "--out", run, "--no-progress"]


def class_folder_not_utf8(tmp: Path, mp) -> list[str]:
    root = make_image_folder(tmp / "imgs", classes=2, per_class=4, size=16)
    os.rename(root / "class1", os.fsencode(root) + b"/caf\xe9")  # Latin-1, not UTF-8
    return ["train", "--model", "CNN", "--dataset", f"folder:{root}", *TINY, "--out", tmp / "out"]


def npy_named_npz(tmp: Path, mp) -> list[str]:
    np.save(tmp / "d.npy", np.zeros((4, 16, 16), np.uint8))
    os.rename(tmp / "d.npy", tmp / "d.npz")
    return ["train", "--model", "CNN", "--dataset", f"npz:{tmp / 'd.npz'}", *TINY, "--out", tmp / "out"]


def npy_as_npz_data(tmp: Path, mp) -> list[str]:
    np.save(tmp / "d.npy", np.zeros((4, 16, 16), np.uint8))
    return ["train", "--model", "CNN", "--dataset", f"npz:{tmp / 'd.npy'}", *TINY, "--out", tmp / "out"]


def bad_enumerated(key: str, value: str) -> Callable[[Path, object], list[str]]:
    def make(tmp: Path, mp) -> list[str]:
        return ["train", "--model", "STN-C0", "--dataset", f"npz:{npz_data(tmp / 'd.npz')}", *TINY,
                "--set", f"{key}={value}", "--out", tmp / "out"]

    return make


def long_out(tmp: Path, mp) -> list[str]:
    return train_args(tmp, "--out", tmp / ("r" * 300) / "x")


def empty_out(tmp: Path, mp) -> list[str]:
    return train_args(tmp, "--out", "")


def disk_full(tmp: Path, mp) -> list[str]:
    real, calls = stnlab.io.write_bytes, {"n": 0}

    def full(path, data):  # the second checkpoint write finds the disk full
        if str(path).endswith("last.pt"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    mp.setattr(stnlab.io, "write_bytes", full)
    return train_args(tmp, "--steps", "12", "--set", "ckpt_every=4", "--out", tmp / "run")


def read_only_resume(tmp: Path, mp) -> list[str]:
    run = made_run(tmp)

    def refuse(path, *a, **kw):  # what open() meets on a read-only mount
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    mp.setattr(checkpoint, "open", refuse, raising=False)
    return ["train", "--resume", "--out", run, "--no-progress"]


def import_link(kind: str) -> Callable[[Path, object], list[str]]:
    def make(tmp: Path, mp) -> list[str]:
        src = make_image_folder(tmp / "src" / "train", classes=2, per_class=3, size=16).parent
        (tmp / "outside.png").write_bytes((src / "train" / "class0" / "000.png").read_bytes())
        link = src / "train" / "class0" / "x.png"
        if kind == "loop":
            link.with_name("loop").symlink_to("..")
        elif kind == "self":
            link.symlink_to("x.png")
        else:
            link.symlink_to(tmp / "outside.png")
        return ["data", "import", "plankton", src, "--data-root", tmp / "root"]

    return make


def resume_changes_lr(tmp: Path, mp) -> list[str]:
    return ["train", "--resume", "--out", made_run(tmp), "--set", "lr=0.5", "--no-progress"]


def resume_without_out(tmp: Path, mp) -> list[str]:
    return ["train", "--resume", "--no-progress"]


def code_in_checkpoint(tmp: Path, mp) -> list[str]:
    run = made_run(tmp)
    torch.save({"format": checkpoint.FORMAT, "x": Evil(tmp / "pwned")}, run / "best.pt")
    return ["eval", run]


def intermediate_over_final(tmp: Path, mp) -> list[str]:
    run = made_run(tmp, step=4, total=8)  # stopped at step 4 of 8 ...
    write_json(run / "eval.json", {"error": 0.1, "step": 8, "split": "test", "final": True})  # ... after a final eval
    return ["eval", run]


CASES = {
    "binary --config": (binary_config, "config file {tmp}/c.json is not UTF-8 text (byte 128: a binary file?)"),
    "run config.json not UTF-8 (eval)": (run_config_not_utf8, "{tmp}/run/config.json is not UTF-8 text"),
    "run config.json not UTF-8 (resume)": (resume_config_not_utf8, "restore it, or retrain into another folder"),
    "class folder name not UTF-8": (class_folder_not_utf8, "imgs/caf\\xe9 is not valid UTF-8; rename it"),
    ".npy file named .npz": (npy_named_npz, "holds one array (a .npy file), not an .npz archive"),
    ".npy file as npz: data": (npy_as_npz_data, "holds one array (a .npy file), not an .npz archive"),
    "padding_mode=foo": (bad_enumerated("padding_mode", "foo"), "'padding_mode' = 'foo': valid: zeros, border, "
                                                                "reflection (--set padding_mode=...)"),
    "family=foo": (bad_enumerated("family", "foo"), "'family' = 'foo': valid: affine, similarity"),
    "loc_net=foo": (bad_enumerated("loc_net", "foo"), "'loc_net' = 'foo': valid: mnist, small, large"),
    "optimizer=foo": (bad_enumerated("optimizer", "foo"), "'optimizer' = 'foo': valid: sgd, adam"),
    "300-character --out": (long_out, "--out: the name rrrrrrrrrrrrrrrrrrrrrrrr... is 300 bytes long, more than "
                                      "the 255"),
    "--out ''": (empty_out, "--out is empty; give a path (or leave it out for the default)"),
    "disk full at a checkpoint": (disk_full, "disk full while writing in {tmp}/run; the last checkpoint, "
                                             "{tmp}/run/last.pt at step 4, is intact; free space, then resume "
                                             "with: stnlab train --resume --out {tmp}/run"),
    "--resume on a read-only run folder": (read_only_resume, "cannot write in run folder {tmp}/run (Read-only "
                                                             "file system); to resume it, copy it"),
    "import: a link to a folder (loop)": (import_link("loop"), "class0/loop is a link to a folder"),
    "import: a link to itself": (import_link("self"), "class0/x.png is a link that loops or points to nothing"),
    "import: a link out of the tree": (import_link("out"), "class0/x.png links to {tmp}/outside.png, outside "
                                                          "{tmp}/src; an import never follows a link out"),
    "--resume --set lr": (resume_changes_lr, "resuming would change the recipe of the run (lr 0.01 -> 0.5); "
                                             "resume without these --set/flags, or add --force-recipe"),
    "--resume without --out": (resume_without_out, "--resume needs the run folder: stnlab train --resume --out "
                                                   "RUN_DIR"),
    "checkpoint holding code": (code_in_checkpoint, "best.pt holds code or objects that are not allowed in a "
                                                    "checkpoint (only tensors and plain data are); it was not "
                                                    "loaded"),
    "intermediate eval over a final one": (intermediate_over_final, "eval.json holds the evaluation of the finished "
                                                                     "run (step 8); the run is stopped at step 4 "
                                                                     "of 8"),
}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (links not followed) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    make, expected = CASES[case]
    argv = make(tmp_path, monkeypatch)
    before = snapshot(tmp_path)
    err = cli_error(capsys, *argv)  # exit 2, one line "stnlab: error: ...", no traceback
    assert expected.format(tmp=tmp_path) in err
    after = snapshot(tmp_path)
    assert not [p for p in after if p.endswith(".part")]  # no temporary file left
    assert not (tmp_path / "out").exists() and not (tmp_path / "root").exists()
    assert not (tmp_path / "pwned").exists()  # the checkpoint's code never ran
    changed = sorted(p for p in before if after.get(p) != before[p])
    assert changed == [], changed  # nothing that existed was changed or removed
    if case == "disk full at a checkpoint":  # the run's files: whole, the checkpoint of step 4 intact
        assert set(after) - set(before) == {"run/config.json", "run/metrics.jsonl", "run/last.pt", "run/best.pt"}
        assert checkpoint.load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4


def test_an_npz_archive_named_npy_is_read_by_its_content(tmp_path, capsys):
    os.rename(npz_data(tmp_path / "d.npz"), tmp_path / "d.npy")
    argv = ["train", "--model", "CNN", "--dataset", f"npz:{tmp_path / 'd.npy'}", *TINY, "--steps", "1", "--out",
            str(tmp_path / "r")]
    assert main(argv) == 0 and "step 1 (epoch" in capsys.readouterr().out


def test_a_run_at_chance_stops_with_exit_2_unless_told_to_train_on(tmp_path, capsys):
    data = npz_data(tmp_path / "blank.npz", n=90, blank=True)  # nothing to learn: every prediction is one class
    args = ["train", "--model", "CNN", "--dataset", f"npz:{data}", *TINY, "--steps", "12", "--set", "val_every=2",
            "--set", "chance_stop=3", "--out", str(tmp_path / "run")]
    err = cli_error(capsys, *args)
    assert ("training sits at chance: validation error 0.667-0.667 at the last 3 validations (steps 2-6; chance "
            "0.667); stopped") in err and "--set lr=0.001 --force" in err
    assert f"stnlab train --resume --out {tmp_path / 'run'} --no-chance-stop" in err
    assert checkpoint.load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 6
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--no-chance-stop", "--no-progress"]) == 0
    assert checkpoint.load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 12


def test_force_recipe_changes_and_records_the_recipe(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tmp_path, "--steps", "4", "--set", "val_every=2", "--out", str(run))) == 0
    assert main(["train", "--resume", "--out", str(run), "--steps", "6", "--set", "lr=0.005", "--force-recipe",
                 "--no-progress"]) == 0
    assert "the recipe changed at step 4 (lr 0.01 -> 0.005, steps 4 -> 6)" in capsys.readouterr().err  # field order
    log = stnlab.io.read_json(run / "recipe_changes.json")
    assert [(e["step"], e["changed"]) for e in log] == [(4, {"lr": [0.01, 0.005], "steps": [4, 6]})]
    assert stnlab.io.read_json(run / "config.json")["lr"] == 0.005
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", "mnist", "--force-recipe", "--out", tmp_path / "x")
    assert "--force-recipe is for --resume" in err


def test_resume_finds_the_default_folder_and_the_exact_command_is_given(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = f"npz:{npz_data(tmp_path / 'd.npz')}"
    base = ["train", "--model", "CNN", "--dataset", data, *TINY]
    assert main([*base, "--steps", "2"]) == 0
    err = cli_error(capsys, *base, "--steps", "4")
    assert "run folder runs/npz-d/CNN-s0 already exists; continue it with: stnlab train --resume --out " \
           "runs/npz-d/CNN-s0 (or add --force" in err
    assert main([*base, "--resume", "--steps", "4", "--force-recipe"]) == 0  # the default folder, continued
    assert checkpoint.load_checkpoint(tmp_path / "runs/npz-d/CNN-s0/last.pt")["step"] == 4
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", data, "--seed", "3", "--resume")
    assert "the default run folder runs/npz-d/CNN-s3 of CNN on" in err


def test_eval_of_an_unfinished_run_says_so_and_a_final_one_replaces_it(tmp_path, capsys):
    run = made_run(tmp_path, step=4, total=8)
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "note: the run has not finished (last checkpoint at step 4 of 8): this evaluates the best checkpoint " \
           "at step 4, an intermediate result" in out
    result = stnlab.io.read_json(run / "eval.json")
    assert (result["final"], result["run_step"], result["run_total"], result["training"]) == (False, 4, 8, False)
    state = checkpoint.load_checkpoint(run / "last.pt")
    save_checkpoint(run / "last.pt", {k: v for k, v in state.items() if k != "format"} | {"step": 8})
    assert main(["eval", str(run)]) == 0 and stnlab.io.read_json(run / "eval.json")["final"] is True


def test_stale_part_files_of_a_killed_write_are_removed_at_the_next_start(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tmp_path, "--steps", "2", "--out", str(run))) == 0
    dead = 2**22 + 12345  # above the kernel's largest pid (pid_max): no such process
    stale = run / f".last.pt.{dead}.0123abcd.part"
    stale.write_bytes(b"half a checkpoint")
    live = run / f".best.pt.{os.getppid()}.0123abcd.part"  # a live process's write: kept
    live.write_bytes(b"in progress")
    assert main(["train", "--resume", "--out", str(run), "--steps", "3", "--force-recipe", "--no-progress"]) == 0
    assert "removed 1 temporary file(s) left by an interrupted write" in capsys.readouterr().err
    assert not stale.exists() and live.exists()


def test_folder_images_are_converted_by_the_stated_rules(tmp_path):
    from stnlab.data.custom import load_custom

    root = make_image_folder(tmp_path / "mix", classes=2, per_class=4, size=16)
    ramp = (np.arange(256).reshape(16, 16) * 256).astype(np.uint16)  # 0..65280
    Image.fromarray(ramp).save(root / "class0" / "deep.png")  # 16-bit grey
    grey = np.full((16, 16), 200, np.uint8)
    Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 128)]), "RGBA").save(root / "class1" / "a.png")
    Image.fromarray(np.dstack([grey, grey // 2, grey, grey]), "CMYK").save(root / "class1" / "c.jpg")
    with pytest.warns(UserWarning, match="read as grey"):  # the CLI prints it as "stnlab: note: ..."
        arrays = load_custom("folder", root)
    assert arrays.images.shape == (11, 1, 16, 16)  # 10 of 11 images grey: the set is grey
    deep = arrays.images[4, 0]  # class0: 000..003, then deep.png
    assert np.array_equal(deep.ravel(), np.round(np.arange(256) * 256 / 257).astype(np.uint8))  # not binarised
    alpha = arrays.images[9, 0]  # class1: 000..003, then a.png, c.jpg
    assert (alpha == 100).all()  # 200 at half opacity over black
    assert arrays.notes == [f"folder: {root}: read as grey (1 channel: 10 of 11 images are grey); converted: "
                            f"1 16-bit grey scaled to 8 bit (value / 257), 1 CMYK converted to RGB, 1 RGBA with "
                            f"transparency composited onto black, 1 colour to grey by luma 0.299 R + 0.587 G + "
                            f"0.114 B"]


@contextlib.contextmanager
def tmpfs(folder: Path, size_kb: int) -> Iterator[Path]:
    """A fresh tmpfs of ``size_kb`` KiB mounted at ``folder`` for the body (root only: skips elsewhere)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()[:80]})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_really_full_disk_keeps_the_last_checkpoint(tmp_path, capsys):
    """The disk-full row above on a real file system: a tmpfs that holds one checkpoint but not a second
    (needs root; skipped where mounting is not allowed)."""
    data = npz_data(tmp_path / "d.npz", n=240)
    args = ["train", "--model", "STN-C0", "--dataset", f"npz:{data}", *TINY, "--steps", "12", "--set", "ckpt_every=4",
            "--set", "st_grid_every=0"]
    assert main([*args, "--steps", "4", "--out", str(tmp_path / "probe")]) == 0
    size = (tmp_path / "probe" / "last.pt").stat().st_size
    with tmpfs(tmp_path / "disk", size * 3 // 2 // 1024 + 64) as disk:
        err = cli_error(capsys, *args, "--out", disk / "run")
        assert err == (f"stnlab: error: disk full while writing in {disk}/run; the last checkpoint, {disk}/run/last.pt "
                       f"at step 4, is intact; free space, then resume with: stnlab train --resume --out {disk}/run")
        assert checkpoint.load_checkpoint(disk / "run" / "last.pt")["step"] == 4
        assert not [p for p in (disk / "run").iterdir() if p.name.endswith(".part")]


def test_resume_on_a_really_read_only_run_folder(tmp_path, capsys):
    """The read-only row above on a real read-only mount (needs root; skipped where mounting is not allowed)."""
    with tmpfs(tmp_path / "disk", 8192) as disk:
        run = made_run(disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        before = snapshot(disk)
        err = cli_error(capsys, "train", "--resume", "--out", run, "--no-progress")
        assert err == (f"stnlab: error: cannot write in run folder {run} (Read-only file system); to resume it, copy "
                       f"it to a writable place and resume the copy: cp -r {run} COPY && stnlab train --resume --out "
                       f"COPY")
        assert snapshot(disk) == before
