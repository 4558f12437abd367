"""One atomic writer for every output of the toolkit.

Every command (validate, analyse, figures, dashboard, power, simulate) writes its files through
:class:`AtomicOutputs`:

- files are written into a temporary folder *beside* the output folder (same file system), then
  moved into place with :func:`os.replace`;
- on any failure (an exception, Ctrl-C, ``SIGTERM``) the temporary folder is removed and the
  previous outputs are left untouched; a folder left behind by a killed process (``SIGKILL``)
  is removed the next time any command writes beside it;
- on success the step's folder holds exactly this run's outputs: files of an earlier run that
  match the step's ``managed`` names but were not written this time are removed;
- no input file is ever overwritten or removed: :func:`guard_inputs` refuses the run first.

CSV written with :func:`write_csv` is neutralised for spreadsheets: text cells beginning with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading ``'`` (OWASP's advice
against formula injection).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rehab_outcomes.exceptions import ConfigError

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_TMP_PREFIX = ".rehab-outcomes-tmp-"


# ----------------------------------------------------------------------------------------------
# spreadsheet safety


def neutralise_cell(value: object) -> object:
    """Prefix ``'`` to text that a spreadsheet would run as a formula.

    >>> neutralise_cell("=HYPERLINK(1)"), neutralise_cell("-3"), neutralise_cell("rest_only")
    ("'=HYPERLINK(1)", "'-3", 'rest_only')
    >>> neutralise_cell(-3.5)
    -3.5
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are safe to open in a spreadsheet (numbers untouched)."""
    out = df
    for col in df.columns:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s.dtype) or isinstance(s.dtype, pd.StringDtype)
                or isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        text = s.astype("string")
        risky = text.str.slice(0, 1).isin(list(FORMULA_PREFIXES)).fillna(False).to_numpy(dtype=bool)
        if risky.any():
            if out is df:
                out = df.copy()
            new = s.astype(object).copy()
            new[risky] = ("'" + text[risky]).astype(object)
            out[col] = new
    return out


def write_csv(df: pd.DataFrame, path: str | Path, **kwargs: Any) -> None:
    """Write ``df`` as UTF-8 CSV with ``\\n`` line ends and formula-safe text cells."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    neutralise_frame(df).to_csv(path, **kwargs)


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON (no NaN or infinity: those become ``null``) with a final newline."""
    Path(path).write_text(json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n",
                          encoding="utf-8")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------------------------
# inputs are never touched


def _resolved(p: str | Path) -> Path:
    return Path(os.path.abspath(os.path.realpath(p)))


def guard_inputs(inputs: Iterable[str | Path | None], out_dir: str | Path,
                 managed: Iterable[str] = ("*",), out_file: str | Path | None = None) -> None:
    """Refuse (exit status 1) a run whose outputs would overwrite or remove one of its inputs.

    ``managed`` are the names (glob patterns) the step writes or cleans in ``out_dir``;
    ``out_file`` is a single output file (the dashboard's page).
    """
    out = _resolved(out_dir)
    patterns = list(managed)
    for item in inputs:
        if item is None:
            continue
        p = _resolved(item)
        if p == out:
            raise ConfigError(f"--out {Path(out_dir).name} is an input folder: choose another output folder")
        if out_file is not None and p == _resolved(out_file):
            raise ConfigError(f"--out would overwrite the input file {Path(item).name}: "
                              "choose another output")
        if p.parent == out and any(fnmatch.fnmatchcase(p.name, pat) for pat in patterns):
            raise ConfigError(f"--out would overwrite or remove the input file {Path(item).name}: "
                              "choose another output folder")


# ----------------------------------------------------------------------------------------------
# the writer


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned(parent: str | Path) -> list[Path]:
    """Remove temporary folders of killed runs in ``parent`` (their process no longer exists)."""
    parent = Path(parent)
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        if not (entry.is_dir() and entry.name.startswith(_TMP_PREFIX)):
            continue
        try:
            pid = int(entry.name[len(_TMP_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    """Turn SIGTERM (Snakemake, a scheduler, ``kill``) into an exception so clean-up runs."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class AtomicOutputs:
    """Write a step's files into a temporary folder, then move them into ``out_dir`` at once.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "step"
    >>> with AtomicOutputs(d, managed=["*.txt"]) as tmp:
    ...     _ = (tmp / "a.txt").write_text("new")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']

    ``managed``: glob patterns of every file this step may write; after a successful run those
    not written this time are removed (stale outputs of an earlier run). Sub-folders written
    into the temporary folder replace the folder of the same name.
    """

    def __init__(self, out_dir: str | Path, managed: Iterable[str] = ()) -> None:
        self.out_dir = Path(out_dir)
        self.managed = list(managed)
        self.tmp: Path | None = None
        self.written: list[Path] = []
        self._signals: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> Path:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"--out {self.out_dir.name} exists and is not a folder")
        parent = self.out_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        sweep_abandoned(parent)
        if self.out_dir.is_dir():
            sweep_abandoned(self.out_dir)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=parent))
        self._signals = _terminate_as_exception()
        self._signals.__enter__()
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.tmp is not None and self._signals is not None
        try:
            if exc_type is None:
                self._commit()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self._signals.__exit__(None, None, None)

    def _commit(self) -> None:
        assert self.tmp is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in self.tmp.iterdir())
        for name in names:
            src, dst = self.tmp / name, self.out_dir / name
            if src.is_dir():
                if dst.is_dir():
                    old = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-old-",
                                                dir=self.out_dir.parent))
                    os.replace(dst, old / name)
                    os.replace(src, dst)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    if dst.exists():
                        dst.unlink()
                    os.replace(src, dst)
            else:
                if dst.is_dir():
                    shutil.rmtree(dst)
                os.replace(src, dst)
            self.written.append(dst)
        for entry in self.out_dir.iterdir():
            if entry.name in names or entry.name.startswith(_TMP_PREFIX):
                continue
            if any(fnmatch.fnmatchcase(entry.name, pat) for pat in self.managed):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def remove_managed(out_dir: str | Path, managed: Iterable[str]) -> None:
    """Remove a step's earlier outputs (used when a run is refused: no stale results remain)."""
    out = Path(out_dir)
    if not out.is_dir():
        return
    patterns = list(managed)
    for entry in out.iterdir():
        if entry.is_file() and any(fnmatch.fnmatchcase(entry.name, pat) for pat in patterns):
            entry.unlink(missing_ok=True)
