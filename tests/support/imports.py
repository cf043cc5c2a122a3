"""The import graph of a package, read from its source with ``ast``: imports inside functions count too.

``import_graph(root, package)`` maps every module of the package at ``root`` (a package by the
name of its ``__init__``) to the modules of the same package it imports:

- relative imports are resolved; ``from . import x`` imports the submodule ``x`` when there is
  one, else the package itself (``x`` is a name defined in its ``__init__``);
- ``import a.b`` and ``from a.b import c`` import ``a.b`` and, as Python runs them first, the
  ``__init__`` of every package on the way that does not also hold the importer;
- every import statement counts, wherever it is: at the top, in a function, under ``if``.

``import_cycles(graph)`` gives each group of modules that import each other (a strongly connected
component of more than one module, or a module that imports itself); ``imports_past_the_face(graph,
package)`` each import of a package's module from outside that package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

Graph = dict[str, set[str]]


def module_paths(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package whose directory is ``root``, by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package, *parts])] = path
    return modules


def _base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of what ``from <node.module> import ...`` names, in ``module``."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _named(node: ast.AST, module: str, is_package: bool, known: Mapping[str, Path]) -> Iterator[str]:
    """The modules one import statement names (submodules where ``from`` names one)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _base(node, module, is_package)
        for alias in node.names:
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base


def _with_packages_run_first(name: str, importer: str, known: Mapping[str, Path]) -> Iterator[str]:
    """``name`` and the packages Python runs before it that do not hold ``importer`` already."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        candidate = ".".join(parts[:end])
        if candidate in known and (candidate == name or not (importer + ".").startswith(candidate + ".")):
            yield candidate


def import_graph(root: Path, package: str) -> Graph:
    """Module → the modules of the same package it imports, from every import statement in its source."""
    known = module_paths(root, package)
    graph: Graph = {}
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        edges = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for name in _named(node, module, is_package, known):
                edges.update(_with_packages_run_first(name, module, known))
    return graph


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, each sorted (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowlink[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                lowlink[module] = min(lowlink[module], lowlink[imported])
            elif imported in on_stack:
                lowlink[module] = min(lowlink[module], index[imported])
        if lowlink[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph.get(module, ()):
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(cycles)


def imports_past_the_face(graph: Mapping[str, set[str]], package: str) -> list[str]:
    """``"a imports p.m"`` for each module outside ``package`` that imports one of its modules, not ``package``."""
    inside = package + "."
    return [
        f"{module} imports {imported}"
        for module, imports in sorted(graph.items())
        if module != package and not module.startswith(inside)
        for imported in sorted(imports)
        if imported.startswith(inside)
    ]
