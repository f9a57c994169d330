"""Errors shared by every layer of nnfab (a leaf module: it imports nothing of nnfab).

:class:`VerifyError` is raised by a view that cannot run (a missing tool, a missing or
stale file, a simulation that produced no results); :func:`generator.verify.run_all`
reports it in the view's row, and the CLI prints it as one line. :class:`RTLUnsupported`
is raised for a graph the RTL backend cannot render, :class:`CalibrationError` for
calibration data or options nnfab cannot use.
"""

from __future__ import annotations


class VerifyError(ValueError):
    """A view that cannot run (missing tool, missing source model, failed build)."""


class RTLUnsupported(ValueError):
    """A graph the RTL backend cannot render (one line: what and what is supported)."""


class CalibrationError(ValueError):
    """Calibration data or options nnfab cannot use (one line: what and what is needed)."""
