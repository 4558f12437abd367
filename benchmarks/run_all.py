"""Run every benchmark of this folder and collect their tables in one ``summary.md``.

Each script runs as a subprocess (same interpreter) with ``--out OUT`` and sizes chosen here;
``--quick`` uses small sizes for a smoke run. Its console output goes to ``OUT/logs/<name>.log``.
The tables each script writes (``.md``, else ``.json``) are gathered into ``OUT/summary.md`` with
the wall time and exit status of every script; a failing script is reported, not fatal.

Usage: python benchmarks/run_all.py --out results/bench [--quick] [--only bench_cox ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Script name -> (full arguments, quick arguments); ``--out`` is added to both.
PLAN: dict[str, tuple[list[str], list[str]]] = {
    "bench_validate": (["--rows", "1000000", "--repeat", "3"], ["--rows", "100000", "--repeat", "1"]),
    "bench_simulate": (["--n", "1000000"], ["--n", "100000"]),
    "bench_cox": (["--full", "--repeat", "3"], ["--sizes", "10000", "--repeat", "1"]),
    "bench_scaling": ([], ["--sizes", "10000", "100000"]),
    "bench_power": ([], ["--trials", "1000"]),
    "bench_dashboard": (["--sizes", "1000000"], ["--sizes", "100000"]),
    "bench_loadcap": (["--n", "100000"], ["--n", "10000"]),
}
#: Scripts maintained elsewhere: options their ``--help`` does not list are dropped.
CHECK_OPTIONS = {"bench_power"}


def _accepts(script: Path, option: str) -> bool:
    """Whether ``script --help`` mentions ``option`` (for scripts written elsewhere)."""
    try:
        out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                             text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return option in out.stdout


def _json_to_markdown(data: object) -> str:
    """A Markdown rendering of a benchmark's JSON (records, ``results`` records, or a dict)."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        head = {k: v for k, v in data.items() if k != "results" and not isinstance(v, dict | list)}
        text = "".join(f"- {k}: {v}\n" for k, v in head.items())
        return text + "\n" + _json_to_markdown(data["results"])
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        cols = list(dict.fromkeys(k for r in data for k in r))
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in data]
        return "\n".join(lines) + "\n"
    if isinstance(data, dict):
        lines = ["| key | value |", "|---|---|"]
        for k, v in data.items():
            if isinstance(v, dict):
                lines += [f"| {k}.{k2} | {_cell(v2)} |" for k2, v2 in v.items()]
            else:
                lines.append(f"| {k} | {_cell(v)} |")
        return "\n".join(lines) + "\n"
    return f"```\n{json.dumps(data, indent=2)}\n```\n"


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if v != 0 and abs(v) < 1e-3 else f"{v:,.3f}"
    return str(v)


def _snapshot(out: Path) -> dict[str, int]:
    """Modification times (ns) of the files in ``out``."""
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}


def _tables(out: Path, before: dict[str, int]) -> list[tuple[str, str]]:
    """Markdown of the result files written in ``out`` since ``before`` (``.md`` preferred)."""
    fresh = sorted(p for p in out.iterdir()
                   if p.is_file() and p.name != "summary.md"
                   and before.get(p.name) != p.stat().st_mtime_ns)
    mds = [p for p in fresh if p.suffix == ".md"]
    if mds:
        return [(p.name, p.read_text(encoding="utf-8")) for p in mds]
    tables = []
    for p in fresh:
        if p.suffix == ".json":
            try:
                tables.append((p.name, _json_to_markdown(json.loads(p.read_text(encoding="utf-8")))))
            except json.JSONDecodeError:
                tables.append((p.name, "(unreadable JSON)\n"))
    return tables


def run_script(name: str, args: list[str], out: Path, timeout: float) -> dict:
    """Run one benchmark script; return its status, time and tables."""
    script = HERE / f"{name}.py"
    if name in CHECK_OPTIONS:
        kept: list[str] = []
        for i, a in enumerate(args):
            if a.startswith("--"):
                if _accepts(script, a):
                    kept.append(a)
            elif i > 0 and args[i - 1] in kept:
                kept.append(a)
        args = kept
    cmd = [sys.executable, str(script), *args, "--out", str(out)]
    log = out / "logs" / f"{name}.log"
    before = _snapshot(out)
    t0 = time.perf_counter()
    try:
        with log.open("w", encoding="utf-8") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
                                  cwd=HERE.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:.0f} s"
    secs = time.perf_counter() - t0
    print(f"{name}: {status} in {secs:.1f} s", flush=True)
    return {"name": name, "args": " ".join(args), "status": status, "seconds": secs,
            "tables": _tables(out, before), "log": log.relative_to(out).as_posix()}


def summary_markdown(runs: list[dict], quick: bool) -> str:
    """The collected ``summary.md``."""
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    lines = [
        "# Benchmarks of rehab-outcomes\n",
        f"- mode: {'quick (small sizes)' if quick else 'full'}",
        f"- python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU(s); "
        f"load average at the end (1/5/15 min): {load}",
        "- timings are wall-clock seconds (best of the repeats where a script repeats)\n",
        "| script | arguments | status | wall seconds | log |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['name']} | `{r['args']}` | {r['status']} | {r['seconds']:.1f} | {r['log']} |"
              for r in runs]
    for r in runs:
        lines.append(f"\n## {r['name']}\n")
        if not r["tables"]:
            lines.append(f"No table written (status: {r['status']}; see {r['log']}).\n")
        for fname, text in r["tables"]:
            lines.append(f"<!-- {fname} -->\n")
            # one heading level down, under the script's own heading
            lines.append("\n".join("#" + ln if ln.startswith("#") else ln
                                   for ln in text.splitlines()) + "\n")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> Path:
    """Run the benchmarks and write ``OUT/summary.md``; returns its path."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--only", nargs="*", default=None, help="run only these scripts")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds per script")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    runs = []
    for name, (full, quick) in PLAN.items():
        if args.only is not None and name not in args.only:
            continue
        if not (HERE / f"{name}.py").is_file():
            print(f"{name}: not present, skipped", flush=True)
            continue
        runs.append(run_script(name, quick if args.quick else full, out, args.timeout))
    path = out / "summary.md"
    path.write_text(summary_markdown(runs, args.quick), encoding="utf-8")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
