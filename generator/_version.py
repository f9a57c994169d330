"""nnfab's version (a module of its own, importing nothing: the IR writes it into every
saved graph without importing the package's API)."""

__version__ = "0.1.0"
