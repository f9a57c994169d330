"""A small Verilog builder: one :class:`Module` collects its header, declarations,
instances, assigns and ``always`` blocks as data and renders the text last.

Identifiers go through one allocator per module (:class:`Names`): a name is sanitized
to a legal identifier, keywords are avoided, and two different source names that
sanitize alike never share an identifier (the second gets a numbered suffix, or, where
the caller needs the exact name, an :class:`AssertionError` names both).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

KEYWORDS = frozenset(["always", "and", "assign", "automatic", "begin", "buf", "bufif0", "bufif1", "case", "casex", "casez", "cell", "cmos", "config", "deassign", "default", "defparam", "design", "disable", "edge", "else", "end", "endcase", "endconfig", "endfunction", "endgenerate", "endmodule", "endprimitive", "endspecify", "endtable", "endtask", "event", "for", "force", "forever", "fork", "function", "generate", "genvar", "highz0", "highz1", "if", "ifnone", "incdir", "include", "initial", "inout", "input", "instance", "integer", "join", "large", "liblist", "library", "localparam", "logic", "macromodule", "medium", "module", "nand", "negedge", "nmos", "nor", "noshowcancelled", "not", "notif0", "notif1", "or", "output", "parameter", "pmos", "posedge", "primitive", "pull0", "pull1", "pulldown", "pullup", "pulsestyle_ondetect", "pulsestyle_onevent", "rcmos", "real", "realtime", "reg", "release", "repeat", "rnmos", "rpmos", "rtran", "rtranif0", "rtranif1", "scalared", "showcancelled", "signed", "small", "specify", "specparam", "strong0", "strong1", "supply0", "supply1", "table", "task", "time", "tran", "tranif0", "tranif1", "tri", "tri0", "tri1", "triand", "trior", "trireg", "unsigned", "use", "uwire", "vectored", "wait", "wand", "weak0", "weak1", "while", "wire", "wor", "xnor", "xor", "int"])


def sanitize(name: str) -> str:
    """A legal Verilog identifier for ``name``: every other character becomes ``_``; a
    name starting with a digit, empty, or a keyword (in any case) gets the prefix ``n_``."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or s[0].isdigit() or s.lower() in KEYWORDS:
        s = "n_" + s
    return s


class Names:
    """The identifiers of one module, each with the source name it was made from."""

    def __init__(self) -> None:
        self.source: dict[str, str] = {}  # identifier -> source name
        self.given: dict[str, str] = {}  # source name -> identifier

    def take(self, source: str, exact: bool = False) -> str:
        """The identifier of ``source``: the same one every time for the same source; a
        new one otherwise, suffixed ``_1``, ``_2``, ... if its sanitized form is taken
        already. ``exact``: the caller relies on the sanitized form itself, so a taken one
        is an error naming both sources."""
        if source in self.given:
            return self.given[source]
        base = sanitize(source)
        cand, i = base, 1
        while cand in self.source:
            if exact:
                raise AssertionError(f"Verilog identifier {cand!r} of {source!r} is taken "
                                     f"already by {self.source[cand]!r}")
            cand = f"{base}_{i}"
            i += 1
        self.source[cand] = source
        self.given[source] = cand
        return cand


@dataclass(frozen=True)
class Port:
    """A module port: ``direction`` ``input``/``output``, ``width`` None for one bit."""

    direction: str
    name: str
    width: int | None = None
    comment: str = ""


def _range(width: int | None, signed: bool = False) -> str:
    sg = "signed " if signed else ""
    return sg if width is None else f"{sg}[{width - 1}:0] "


def _connect(items: Mapping[str, object]) -> str:
    return ", ".join(f".{k}({v})" for k, v in items.items())


class Module:
    """One Verilog module built statement by statement; :meth:`render` writes its text.

    ``params`` are ``(name, default, comment)``; ``ports`` in declaration order. Body
    statements are indented four spaces, in the order they were added.
    """

    IND = "    "

    def __init__(self, name: str, ports: Sequence[Port] = (),
                 params: Sequence[tuple[str, str, str]] = ()) -> None:
        self.names = Names()
        self.name = self.names.take(name, exact=True)
        self.ports = list(ports)
        self.params = list(params)
        for p in self.ports:
            self.names.take(p.name, exact=True)
        for pname, _default, _comment in self.params:
            self.names.take(pname, exact=True)
        self.preamble: list[str] = []
        self.body: list[str] = []

    # -- text before the module ----------------------------------------------------------

    def note(self, text: str) -> None:
        """A ``//`` comment line before the module header."""
        self.preamble.append(f"// {text}")

    def default_nettype_none(self) -> None:
        """`` `default_nettype none`` before the header (and ``wire`` again after the
        module)."""
        self.preamble.append("`default_nettype none")

    # -- names ---------------------------------------------------------------------------

    def stem(self, source: str) -> str:
        """A unique identifier for ``source`` to derive signal names from (a suffixed one
        when another source took its sanitized form)."""
        return self.names.take(source)

    def _declare(self, name: str, exact: bool) -> str:
        ident = self.names.take(name, exact=exact)
        return ident

    # -- statements ----------------------------------------------------------------------

    def line(self, text: str) -> None:
        """A raw statement line (indented)."""
        self.body.append(self.IND + text)

    def comment(self, text: str) -> None:
        self.body.append(f"{self.IND}// {text}")

    @contextmanager
    def section(self, text: str) -> Iterator[Module]:
        """A commented group of statements: ``with m.section("layer fc1"): ...``."""
        self.comment(text)
        yield self

    def _decl(self, kind: str, names: Sequence[str], width: int | None, signed: bool,
              init: str | None, comment: str, exact: bool) -> list[str]:
        idents = [self._declare(n, exact) for n in names]
        text = f"{self.IND}{kind} {_range(width, signed)}{', '.join(idents)}"
        if init is not None:
            text += f" = {init}"
        text += ";"
        if comment:
            text += f"  // {comment}"
        self.body.append(text)
        return idents

    def wire(self, name: str, width: int | None = None, signed: bool = False,
             init: str | None = None, comment: str = "", exact: bool = True) -> str:
        """Declare a wire (``init``: its continuous value); returns its identifier."""
        return self._decl("wire", [name], width, signed, init, comment, exact)[0]

    def wires(self, names: Sequence[str], width: int | None = None,
              exact: bool = True) -> list[str]:
        """Declare several wires of one width in one statement."""
        return self._decl("wire", names, width, False, None, "", exact)

    def reg(self, name: str, width: int | None = None, signed: bool = False,
            exact: bool = True) -> str:
        """Declare a reg; returns its identifier."""
        return self._decl("reg", [name], width, signed, None, "", exact)[0]

    def assign(self, lhs: str, rhs: str, comment: str = "") -> None:
        tail = f"  // {comment}" if comment else ""
        self.body.append(f"{self.IND}assign {lhs} = {rhs};{tail}")

    def instance(self, module: str, name: str, params: Mapping[str, object] | None = None,
                 ports: Mapping[str, object] | None = None) -> str:
        """An instance ``name`` of ``module``; parameters and ports connected by name, in
        the order given. Returns the instance identifier."""
        ident = self._declare(name, exact=True)
        par = f" #({_connect(params)})" if params else ""
        self.body.append(f"{self.IND}{module}{par} {ident} ({_connect(ports or {})});")
        return ident

    def always(self, head: str, stmts: Sequence[str]) -> None:
        """``always <head> begin`` ... ``end``; ``stmts`` are lines indented one level
        deeper (any further indentation kept)."""
        self.body.append(f"{self.IND}always {head} begin")
        self.body.extend(f"{self.IND * 2}{s}" for s in stmts)
        self.body.append(f"{self.IND}end")

    # -- text ----------------------------------------------------------------------------

    def _header(self) -> list[str]:
        out = []
        if self.params:
            out.append(f"module {self.name} #(")
            for i, (pname, default, comment) in enumerate(self.params):
                sep = "," if i < len(self.params) - 1 else ""
                tail = f"  // {comment}" if comment else ""
                out.append(f"{self.IND}parameter {pname} = {default}{sep}{tail}")
            out.append(") (")
        else:
            out.append(f"module {self.name} (")
        for i, p in enumerate(self.ports):
            sep = "," if i < len(self.ports) - 1 else ""
            tail = f"  // {p.comment}" if p.comment else ""
            out.append(f"{self.IND}{p.direction:<6} wire {_range(p.width)}{p.name}{sep}{tail}")
        out.append(");")
        return out

    def render(self) -> str:
        lines = [*self.preamble, *self._header(), *self.body, "endmodule"]
        if "`default_nettype none" in self.preamble:
            lines.append("`default_nettype wire")
        return "\n".join(lines) + "\n"
