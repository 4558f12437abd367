"""One atomic writer for every output of the toolkit.

Every command (analyse, figures, dashboard, power, power-gather, simulate) writes its files
through :class:`AtomicOutputs`:

- files are written into a temporary folder *beside* the output folder (same file system), then
  moved into place with :func:`os.replace`;
- on any failure (an exception, Ctrl-C, ``SIGTERM``) the temporary folder is removed and the
  previous outputs are left untouched; a folder left behind by a killed process (``SIGKILL``)
  is removed the next time any command writes beside it (only folders of this host whose
  process no longer exists: a shared file system may hold live folders of other nodes);
- on success the step's folder holds exactly this run's outputs: files of an earlier run that
  match the step's ``managed`` names but were not written this time are removed;
- no input file is ever overwritten or removed: :func:`guard_inputs` refuses the run first.

CSV written with :func:`write_csv` is neutralised for spreadsheets: text cells beginning with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading ``'`` (OWASP's advice
against formula injection). Numbers are never touched: ``-0.5`` in a numeric column stays
``-0.5``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rehab_outcomes.contract.pii import masked_file_name
from rehab_outcomes.exceptions import ConfigError

__all__ = [
    "FORMULA_PREFIXES",
    "AtomicOutputs",
    "guard_inputs",
    "neutralise_cell",
    "neutralise_frame",
    "remove_managed",
    "sweep_abandoned",
    "temp_folder_prefix",
    "write_csv",
    "write_json",
]

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_TMP_PREFIX = ".rehab-outcomes-tmp-"


# ----------------------------------------------------------------------------------------------
# spreadsheet safety


def neutralise_cell(value: object) -> object:
    """Prefix ``'`` to text that a spreadsheet would run as a formula (numbers untouched).

    >>> neutralise_cell("=HYPERLINK(1)"), neutralise_cell("-3"), neutralise_cell("rest_only")
    ("'=HYPERLINK(1)", "'-3", 'rest_only')
    >>> neutralise_cell(-3.5)
    -3.5
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text cells made safe to open in a spreadsheet.

    Only text values are changed (numbers in an object column stay numbers, numeric columns
    are not looked at); ``df`` itself is returned, not a copy, when no cell needs a change.
    String and categorical columns are checked without a Python loop over rows.

    >>> out = neutralise_frame(pd.DataFrame({"a": ["=1+1", "x"], "b": [-0.5, 1.0]}))
    >>> out["a"].tolist(), out["b"].tolist()
    (["'=1+1", 'x'], [-0.5, 1.0])
    """
    out = df
    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        fixed = _neutralise_series(s)
        if fixed is None:
            continue
        if out is df:
            out = df.copy()
        out.isetitem(i, fixed)
    return out


def _neutralise_series(s: pd.Series) -> pd.Series | None:
    """The neutralised column, or None if no cell needs a change."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        new = [neutralise_cell(c) for c in cats]
        if all(a is b for a, b in zip(new, cats, strict=True)):
            return None
        if len(set(new)) == len(new):
            return s.cat.rename_categories(new)
        s = s.astype(object)  # "'=x" is a category already: neutralise value by value
    if isinstance(s.dtype, pd.StringDtype):
        risky = s.str.slice(0, 1).isin(list(FORMULA_PREFIXES)).fillna(False).to_numpy(dtype=bool)
        if not risky.any():
            return None
        return s.mask(risky, "'" + s)
    if not pd.api.types.is_object_dtype(s.dtype):
        return None
    values = s.to_numpy(dtype=object)
    risky = np.fromiter((isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values),
                        dtype=bool, count=len(values))
    if not risky.any():
        return None
    new = values.copy()
    new[risky] = ["'" + v for v in values[risky]]
    return pd.Series(new, index=s.index, name=s.name, dtype=object)


def write_csv(df: pd.DataFrame, path: str | Path, **kwargs: Any) -> None:
    """Write ``df`` as UTF-8 CSV with ``\\n`` line ends and formula-safe text cells.

    Keyword arguments go to :meth:`pandas.DataFrame.to_csv` (default ``index=False``).
    """
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    kwargs.setdefault("encoding", "utf-8")
    neutralise_frame(df).to_csv(path, **kwargs)


def write_json(obj: Any, path: str | Path, *, digits: int | None = None) -> None:
    """Write JSON (indent 2, final newline); NaN and infinities become ``null``.

    ``digits``: round floats to this many decimals.
    """
    text = json.dumps(jsonable(obj, digits), indent=2, allow_nan=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def jsonable(obj: Any, digits: int | None = None) -> Any:
    """``obj`` with numpy scalars, paths and non-finite floats made plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v, digits) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, float | np.floating):
        if not np.isfinite(obj):
            return None
        return float(obj) if digits is None else round(float(obj), digits)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------------------------
# inputs are never touched


def _resolved(p: str | Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(p)))


def guard_inputs(inputs: Iterable[str | Path | None], out_dir: str | Path,
                 managed: Iterable[str] = ("*",), out_file: str | Path | None = None) -> None:
    """Refuse (:class:`ConfigError`, exit status 1) a run whose outputs could touch an input.

    ``inputs`` are the files and folders the step reads; ``managed`` the names (glob patterns)
    it writes or cleans in ``out_dir``; ``out_file`` a single output file (the dashboard's
    page), in which case only that file is guarded. Otherwise refused: ``out_dir`` is an input
    (a folder the step reads), holds an input file (each step writes a folder of its own), or
    writing or cleaning it would overwrite or remove an input file.
    """
    out = _resolved(out_dir)
    target = _resolved(out_file) if out_file is not None else None
    patterns = list(managed)
    for item in inputs:
        if item is None:
            continue
        p = _resolved(item)
        name = masked_file_name(item)
        if target is not None:
            if p == target:
                raise ConfigError(f"--out would overwrite the input file {name}: choose another output")
            continue
        if p == out:
            raise ConfigError(f"--out {masked_file_name(out_dir)} is an input: choose another output folder")
        if not p.is_dir() and p.parent == out:
            raise ConfigError(f"--out {masked_file_name(out_dir)} holds the input file {name}: "
                              "choose another output folder (one folder per step's outputs)")
        if p.parent == out and any(fnmatch.fnmatchcase(p.name, pat) for pat in patterns):
            raise ConfigError(f"--out would overwrite or remove the input {name}: "
                              "choose another output folder")


# ----------------------------------------------------------------------------------------------
# the writer


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "host"


def temp_folder_prefix(pid: int | None = None) -> str:
    """Name prefix of the writer's temporary folders: ``.rehab-outcomes-tmp-PID-HOST-``."""
    return f"{_TMP_PREFIX}{os.getpid() if pid is None else pid}-{_host()}-"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def sweep_abandoned(parent: str | Path) -> list[Path]:
    """Remove temporary folders of killed runs in ``parent``.

    Only folders named by :func:`temp_folder_prefix` on this host whose process no longer
    exists are removed; returns them.
    """
    parent = Path(parent)
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    host = _host()
    for entry in parent.iterdir():
        if not entry.name.startswith(_TMP_PREFIX):
            continue
        parts = entry.name[len(_TMP_PREFIX):].split("-")
        if len(parts) < 3 or parts[1] != host or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextlib.contextmanager
def _signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    """Install ``handler`` for SIGTERM (and restore the previous one) in the main thread."""
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")


class AtomicOutputs:
    """Write a step's files into a temporary folder, then move them into ``out_dir`` together.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "step"
    >>> with AtomicOutputs(d, managed=["*.txt"]) as tmp:
    ...     _ = (tmp / "a.txt").write_text("new")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']

    ``managed``: glob patterns of every file this step may write; after a successful run those
    not written this time are removed (stale outputs of an earlier run). Other files in
    ``out_dir`` are never touched. Sub-folders written into the temporary folder replace the
    folder of the same name. ``SIGTERM`` while writing aborts the run like Ctrl-C (nothing
    changes); while the files are moved into place it is held back until the move is complete.
    ``out_dir`` is created only when the outputs are moved into place.
    """

    def __init__(self, out_dir: str | Path, managed: Iterable[str] = ()) -> None:
        self.out_dir = Path(out_dir)
        self.managed = list(managed)
        self.tmp: Path | None = None
        self.written: list[Path] = []
        self._guard: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> Path:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"--out {self.out_dir.name} exists and is not a folder")
        parent = self.out_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        sweep_abandoned(parent)
        if self.out_dir.is_dir():
            sweep_abandoned(self.out_dir)
        self._guard = _signals(_raise_interrupt)
        self._guard.__enter__()
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=temp_folder_prefix(), dir=parent))
        except BaseException:
            self._guard.__exit__(None, None, None)
            raise
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self.tmp is not None and self._guard is not None
        try:
            if exc_type is None:
                self._commit_holding_signals()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self._guard.__exit__(None, None, None)

    def _commit_holding_signals(self) -> None:
        pending: list[int] = []

        def hold(signum: int, frame: object) -> None:
            pending.append(signum)

        with _signals(hold):
            self._commit()
        if pending:
            raise KeyboardInterrupt(f"terminated by signal {pending[0]} (outputs complete)")

    def _commit(self) -> None:
        assert self.tmp is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in self.tmp.iterdir())
        for name in names:  # a file never replaces a folder: refuse before anything moves
            dst = self.out_dir / name
            if (self.tmp / name).is_file() and dst.is_dir() and not dst.is_symlink():
                raise ConfigError(f"{name} in --out {self.out_dir.name} is a folder: "
                                  "choose another output")
        for name in names:
            src, dst = self.tmp / name, self.out_dir / name
            if src.is_dir():
                if dst.is_dir() and not dst.is_symlink():
                    old = Path(tempfile.mkdtemp(prefix=temp_folder_prefix(), dir=self.out_dir.parent))
                    os.replace(dst, old / name)
                    os.replace(src, dst)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    if dst.exists() or dst.is_symlink():
                        dst.unlink()
                    os.replace(src, dst)
            else:
                os.replace(src, dst)
            self.written.append(dst)
        for entry in self.out_dir.iterdir():
            if entry.name in names or entry.name.startswith(_TMP_PREFIX):
                continue
            if any(fnmatch.fnmatchcase(entry.name, pat) for pat in self.managed):
                if entry.is_dir() and not entry.is_symlink():
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
