"""Graph passes and the one explicit pipeline that runs them.

Contract: a pass is a function ``pass_(graph) -> bool`` that rewrites or annotates the
graph in place and returns whether it changed anything. Passes run once each, in the
order of :data:`PIPELINE`; nothing loops "until stable".
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import Graph
from .dead_units import dead_units
from .fold_batchnorm import fold_batchnorm
from .folding import folding
from .infer_precision import infer_precision
from .sparsity import sparsity
from .tiling import tiling
from .timing import timing

Pass = Callable[[Graph], bool]

#: The build, step by step: fold exact affine nodes into their producers, drop the
#: weights of units nothing reads, give every derived tensor its exact type (from the
#: weights that are left), then count nonzeros for the backends, fold the layers and place
#: their pipeline registers for the target clock.
PIPELINE: list[tuple[str, Pass]] = [
    ("infer_precision", infer_precision),
    ("fold_batchnorm", fold_batchnorm),
    ("dead_units", dead_units),
    ("infer_precision_after_fold", infer_precision),
    ("sparsity", sparsity),
    ("folding", folding),
    ("timing", timing),
    ("tiling", tiling),
]


def run_pipeline(graph: Graph) -> list[tuple[str, bool]]:
    """Run every pass of :data:`PIPELINE` once; return ``(name, changed)`` per step."""
    log = []
    for name, p in PIPELINE:
        log.append((name, p(graph)))
        graph.verify()
    return log
