"""The one atomic writer: nothing lost, nothing stale, nothing half-written, inputs untouched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rehab_outcomes import outputs
from rehab_outcomes.contract.validate import validate_episodes
from rehab_outcomes.exceptions import ConfigError
from rehab_outcomes.outputs import (
    AtomicOutputs,
    guard_inputs,
    neutralise_frame,
    sweep_abandoned,
    temp_folder_prefix,
    write_csv,
)
from rehab_outcomes.simulation import simulate_cohort
from rehab_outcomes.survival import pipeline
from rehab_outcomes.survival.pipeline import AnalysisResult, run_analysis


def cli(*args: object) -> int:
    from rehab_outcomes.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def temp_folders(*dirs: Path) -> list[Path]:
    return [p for d in dirs if d.is_dir() for p in d.iterdir() if p.name.startswith(".rehab-outcomes-tmp-")]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, pd.DataFrame]:
    c = simulate_cohort(600, seed=21)
    ep = validate_episodes(c.episodes.astype("string[pyarrow]")).valid
    return ep, c.visits[c.visits["episode_id"].isin(ep["episode_id"])]


@pytest.fixture(scope="module")
def analysed(cohort: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[AnalysisResult, AnalysisResult]:
    ep, visits = cohort
    return run_analysis(ep, visits=visits.head(3000)), run_analysis(ep)


# ----------------------------------------------------------------------------------------------
# nothing half-written


def test_failure_in_the_middle_leaves_previous_outputs_and_no_temp_folder(
        analysed: tuple[AnalysisResult, AnalysisResult], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with_visits, without = analysed
    out = tmp_path / "analyse"
    with_visits.write(out)
    before = snapshot(out)
    calls = {"n": 0}
    real = pipeline.write_csv

    def failing(df: pd.DataFrame, path: Path, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        real(df, path, **kwargs)

    monkeypatch.setattr(pipeline, "write_csv", failing)
    with pytest.raises(OSError, match="disk full"):
        without.write(out)
    assert calls["n"] == 4
    assert snapshot(out) == before  # every earlier table, trajectories included, untouched
    assert temp_folders(tmp_path, out) == []


def test_sigterm_while_writing_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "step"
    out.mkdir()
    (out / "a.txt").write_text("old")
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from rehab_outcomes.outputs import AtomicOutputs
        try:
            with AtomicOutputs(Path({str(out)!r}), managed=["*.txt"]) as tmp:
                (tmp / "a.txt").write_text("new")
                print("writing", flush=True)
                time.sleep(60)
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    assert len(temp_folders(tmp_path)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert (out / "a.txt").read_text() == "old"
    assert temp_folders(tmp_path) == []


def test_killed_runs_temp_folder_is_swept_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "analyse"
    killed = tmp_path / (temp_folder_prefix(dead_pid()) + "abc123")
    killed.mkdir()
    (killed / "km_pain_free.csv").write_text("half")
    live = tmp_path / (temp_folder_prefix(os.getppid()) + "live01")  # a running process's
    live.mkdir()
    host = "".join(c if c.isalnum() or c == "." else "_" for c in socket.gethostname())
    other_node = tmp_path / f".rehab-outcomes-tmp-{dead_pid()}-not{host}-x1"  # shared file system
    other_node.mkdir()
    with AtomicOutputs(out, managed=["*.csv"]) as tmp:
        (tmp / "x.csv").write_text("1\n")
    assert not killed.exists()
    assert live.is_dir() and other_node.is_dir()
    assert sweep_abandoned(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == ["x.csv"]


def test_sigkill_leaves_a_folder_that_the_next_command_removes(tmp_path: Path) -> None:
    out = tmp_path / "step"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from rehab_outcomes.outputs import AtomicOutputs
        with AtomicOutputs(Path({str(out)!r}), managed=["*.txt"]) as tmp:
            (tmp / "a.txt").write_text("new")
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait(timeout=30)
    assert len(temp_folders(tmp_path)) == 1  # SIGKILL: no clean-up possible
    with AtomicOutputs(out, managed=["*.txt"]) as tmp:
        (tmp / "b.txt").write_text("b")
    assert temp_folders(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]


# ----------------------------------------------------------------------------------------------
# nothing stale


def test_stale_tables_of_an_earlier_run_are_removed(
        analysed: tuple[AnalysisResult, AnalysisResult], tmp_path: Path) -> None:
    with_visits, without = analysed
    out = tmp_path / "analyse"
    with_visits.write(out)
    (out / "notes.txt").write_text("mine")  # not an output of analyse: kept
    assert {"trajectories.csv", "trajectories_predicted.csv", "trajectories_observed.csv"} <= set(
        os.listdir(out))
    paths = without.write(out)
    names = set(os.listdir(out))
    assert not any(n.startswith("trajectories") for n in names)
    assert names == {p.name for p in paths} | {"notes.txt"}
    assert json.loads((out / "summary.json").read_text())["tables"] == sorted(without.tables)


def test_stale_figures_and_visits_files_are_removed(tmp_path: Path) -> None:
    c = simulate_cohort(200, seed=2)
    c.write(tmp_path / "sim", visits_format="csv")
    c.write(tmp_path / "sim", visits_format="parquet")
    assert sorted(os.listdir(tmp_path / "sim")) == ["episodes.csv", "truth.json", "visits.parquet"]
    fig = tmp_path / "fig"
    fig.mkdir()
    (fig / "love.png").write_bytes(b"old")  # a figure of an earlier IPTW run
    (fig / "mine.png").write_bytes(b"keep")
    summary = tmp_path / "ana"
    summary.mkdir()
    (summary / "summary.json").write_text("{}")
    assert cli("-q", "figures", summary, "--out", fig) == 0
    assert sorted(os.listdir(fig)) == ["mine.png"]


# ----------------------------------------------------------------------------------------------
# inputs untouched


def test_out_equal_to_an_input_folder_is_refused_and_the_input_kept(
        cohort: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ep, _ = cohort
    val = tmp_path / "validate"
    val.mkdir()
    path = val / "episodes.valid.parquet"
    ep.to_parquet(path, index=False)
    (val / "validation.json").write_text(json.dumps({"n_in": len(ep), "n_valid": len(ep)}))
    before = snapshot(val)
    assert cli("analyse", path, "--out", val) == 1
    assert "input" in capsys.readouterr().err
    assert cli("dashboard", path, "--validation", val / "validation.json",
               "--out", val / "validation.json") == 1
    assert cli("figures", val, "--out", val) in (1, 2)  # not an analysis folder: refused either way
    assert snapshot(val) == before and temp_folders(tmp_path, val) == []
    ana = tmp_path / "ana"
    assert cli("-q", "analyse", path, "--out", ana) == 0
    assert cli("figures", ana, "--out", ana) == 1  # the analysis folder is an input of figures
    assert sorted(os.listdir(ana)) == sorted([*(f"{t}.csv" for t in pipeline.TABLES), "summary.json"])


def test_guard_inputs_rules(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    data = tmp_path / "in" / "power.csv"
    data.write_text("x")
    with pytest.raises(ConfigError):
        guard_inputs([data], tmp_path / "in", ["power.csv"])  # would overwrite it
    with pytest.raises(ConfigError):
        guard_inputs([tmp_path / "in"], tmp_path / "in", ["power.csv"])  # the input folder itself
    with pytest.raises(ConfigError):
        guard_inputs([data], tmp_path, ["*"], out_file=data)  # the page would replace an input
    guard_inputs([tmp_path / "in"], tmp_path, ["power.csv"])  # chunks below the output: fine
    guard_inputs([data, None], tmp_path / "out", ["power.csv"])
    assert data.read_text() == "x"


def test_power_gather_into_a_chunk_folder_is_refused(tmp_path: Path) -> None:
    chunk = tmp_path / "c1"
    chunk.mkdir()
    (chunk / "power.csv").write_text("keep")
    (chunk / "power.json").write_text("{}")
    assert cli("power-gather", chunk, "--out", chunk) == 1
    assert (chunk / "power.csv").read_text() == "keep"


# ----------------------------------------------------------------------------------------------
# formula-safe CSV


def test_formula_cells_are_neutralised_and_numbers_untouched(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "text": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "ok", "plain", None],
        "number": [-0.5, 1.0, -2.0, 3.0, np.nan, 0.0, -1e-9, 7.0],
        "count": np.arange(-4, 4),
        "cat": pd.Categorical(["=a", "b", "=a", "b", "b", "b", "b", "b"]),
        "arrow": pd.array(["-x", "y", None, "y", "y", "y", "y", "y"], dtype="string[pyarrow]"),
    })
    write_csv(df, tmp_path / "t.csv", float_format="%.10g")
    text = (tmp_path / "t.csv").read_text(encoding="utf-8")
    rows = text.splitlines()
    assert rows[1].startswith("\"'=HYPERLINK(\"\"x\"\")\",-0.5,-4,'=a,'-x")
    assert rows[2] == "'+1,1,-3,b,y" and rows[3].startswith("'-2,-2,-2,'=a,")
    assert "'@SUM(A1)" in text and "-1e-09" in text and "\n'\tx" in text and "\n\tx" not in text
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["number"].iloc[0] == -0.5 and back["count"].tolist() == list(range(-4, 4))
    assert outputs.neutralise_cell("\rx") == "'\rx" and outputs.neutralise_cell(-3) == -3
    plain = pd.DataFrame({"a": ["x"], "b": [-1.0]})
    assert neutralise_frame(plain) is plain  # nothing to change: no copy


def test_analyse_tables_are_neutralised(analysed: tuple[AnalysisResult, AnalysisResult],
                                        tmp_path: Path) -> None:
    _, res = analysed
    claims = res.tables["claims"].copy()
    claims.loc[0, "statement"] = "=cmd|' /C calc'!A0"
    AnalysisResult(tables={"claims": claims}, summary={}).write(tmp_path)
    text = (tmp_path / "claims.csv").read_text(encoding="utf-8")
    assert "'=cmd" in text and "\n=cmd" not in text and ",=cmd" not in text


def test_writer_moves_folders_and_refuses_to_replace_a_folder_by_a_file(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with AtomicOutputs(out, managed=["sub", "*.txt"]) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.txt").write_text("1")
    assert (out / "sub" / "x.txt").read_text() == "1"
    (out / "page.html").mkdir()
    with pytest.raises(ConfigError), AtomicOutputs(out, managed=["page.html"]) as tmp:
        (tmp / "page.html").write_text("<html>")
    assert (out / "page.html").is_dir() and temp_folders(tmp_path) == []


def test_pid_of_a_running_process_is_alive() -> None:
    assert outputs._pid_alive(os.getpid()) and not outputs._pid_alive(dead_pid())
