"""Errors shared by every layer of nnfab (a leaf module: it imports nothing of nnfab).

:class:`VerifyError` is raised by a view that cannot run (a missing tool, a missing or
stale file, a simulation that produced no results); :func:`generator.verify.run_all`
reports it in the view's row, and the CLI prints it as one line.
"""

from __future__ import annotations


class VerifyError(ValueError):
    """A view that cannot run (missing tool, missing source model, failed build)."""
