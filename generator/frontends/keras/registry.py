"""The Keras layer handlers: one function per Keras / QKeras layer class, registered by
class name with :func:`keras_handler`.

The converter (:meth:`.builder.Builder.dispatch`) looks each layer's class up in
:data:`HANDLERS`; a class with no handler is refused in one line listing the registered
classes (:func:`supported_layers`), and a layer of several inputs whose handler takes one
lists those that take several (:func:`several_input_layers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ...ir import Tensor
    from .builder import Builder

#: the inputs a handler takes: ``"none"`` (the model's input layer), ``"one"`` (the
#: current tensor ``Builder.x``, also passed as the one element of ``ins``) or
#: ``"several"`` (a merge: every input, in the layer's order)
Inputs = Literal["none", "one", "several"]

#: ``handler(builder, layer, ins)``: appends the layer's nodes to ``builder.g`` and leaves
#: its output in ``builder.x``
HandlerFn = Callable[["Builder", Any, "list[Tensor]"], None]


@dataclass(frozen=True)
class Handler:
    fn: HandlerFn
    inputs: Inputs
    #: what the supported-layer list says of the class after its name (a restriction)
    note: str | None = None


#: Keras class name -> its handler, in registration order (the order the supported-layer
#: list names them)
HANDLERS: dict[str, Handler] = {}


def keras_handler(*classes: str, inputs: Inputs = "one",
                  notes: Mapping[str, str] | None = None) -> Callable[[HandlerFn], HandlerFn]:
    """Register the decorated function as the handler of the Keras layer ``classes``
    (class names, as ``type(layer).__name__`` spells them); ``notes``: a restriction shown
    after a class's name in the supported-layer list."""
    notes = dict(notes or {})
    assert set(notes) <= set(classes), f"notes for unregistered classes {set(notes) - set(classes)}"

    def register(fn: HandlerFn) -> HandlerFn:
        for c in classes:
            assert c not in HANDLERS, f"Keras layer {c} has two handlers"
            HANDLERS[c] = Handler(fn, inputs, notes.get(c))
        return fn

    return register


def supported_layers() -> str:
    """The registered classes, each with its restriction: ``Dense, ..., Average (of 2^k
    inputs), ...``; a 1D class registered right before its 2D twin (neither with a
    restriction) is named once, ``Conv1D/2D``."""
    names: list[str] = []
    for c, h in HANDLERS.items():
        twin = c[:-2] + "1D"
        if c.endswith("2D") and names and names[-1] == twin and not (
                h.note or HANDLERS[twin].note):
            names[-1] += "/2D"
        else:
            names.append(c + (f" ({h.note})" if h.note else ""))
    return ", ".join(names)


def several_input_layers() -> str:
    """The registered classes whose handler takes several inputs."""
    return ", ".join(c for c, h in HANDLERS.items() if h.inputs == "several")
