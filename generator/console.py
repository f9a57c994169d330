"""What nnfab shows on the terminal besides its results: progress and silence.

* :func:`step` (and the decorator :func:`stepped`) -- a progress display (a ``rich`` spinner with the elapsed time, on
  stderr) around a step that can take more than a few seconds (a Verilator or g++
  build, Yosys, the board fit's search, writing a large design). It is shown only when
  stderr is a terminal and nnfab is not quiet (``--quiet``, :func:`set_quiet`, or
  ``NNFAB_QUIET=1``); otherwise it costs nothing and prints nothing.
* :func:`native_stderr_silenced` -- TensorFlow (and the CUDA / absl libraries under it)
  print log lines from C++ straight to file descriptor 2 while it is imported, whatever
  ``TF_CPP_MIN_LOG_LEVEL`` says. The import runs with descriptor 2 sent to a temporary
  file; the lines are dropped when the import succeeds and printed when it fails.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_QUIET = os.environ.get("NNFAB_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    """Show (False) or hide (True) progress displays for the rest of the process."""
    global _QUIET
    _QUIET = quiet


def shown() -> bool:
    """Is a progress display shown (stderr a terminal, not quiet)?"""
    try:
        return not _QUIET and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


#: the display of the step running now (a step inside it relabels it), or None
_ACTIVE: list[Any] = []


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    """A spinner with ``label`` and the elapsed seconds on stderr while the block runs
    (nothing when :func:`shown` is False); it disappears when the block ends. A step
    inside another shows its own label on the same line until it ends."""
    if not shown():
        yield
        return
    if _ACTIVE:
        p, task, outer = _ACTIVE[-1]
        p.update(task, description=label)
        try:
            yield
        finally:
            p.update(task, description=outer)
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as p:
        _ACTIVE.append((p, p.add_task(label, total=None), label))
        try:
            yield
        finally:
            _ACTIVE.pop()


def stepped(label: str) -> Callable[[F], F]:
    """Decorate a function that can take a while: it runs inside :func:`step`."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kw: Any) -> Any:
            with step(label):
                return fn(*args, **kw)
        return inner  # type: ignore[return-value]
    return wrap


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to a temporary file while the block runs; its content is
    written back to stderr only when the block raises."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        fd = 2
    try:
        saved = os.dup(fd)
    except OSError:  # no descriptor 2 at all: nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), fd)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            if failed:
                tmp.seek(0)
                sys.stderr.write(tmp.read().decode(errors="replace"))
