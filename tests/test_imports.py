"""The shapes of the imports: no cycle between the modules of ``shop``, and one door into ``shop.stock``.

The graph is read from the source (``tests/support/imports.py``): an import inside a function is
still an import, so a cycle dodged by moving an import into a function fails here too. The last
tests run the same functions on small packages written for them, so that they are seen to fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import shop
from tests.support.imports import import_cycles, import_graph, imports_past_the_face

SHOP = Path(shop.__file__).parent
# Packages that code outside them enters only through their ``__init__`` (docs/architecture.md).
PUBLIC_FACES = ["shop.stock"]


@pytest.fixture(scope="module")
def graph():
    return import_graph(SHOP, "shop")


def test_the_graph_holds_every_module_of_the_shop(graph):
    assert {"shop", "shop.stock", "shop.stock.service", "shop.api.views", "shop.web.staff.views"} <= set(
        graph
    )
    assert (
        "shop.orders" in graph["shop.holds"] and "shop.api.views" in graph["shop.api"]
    )  # the latter in a function


def test_no_modules_of_the_shop_import_each_other(graph):
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(group) for group in cycles)


@pytest.mark.parametrize("package", PUBLIC_FACES)
def test_code_outside_a_package_imports_only_its_init(graph, package):
    assert package in graph
    assert imports_past_the_face(graph, package) == []


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, source in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    return package


def test_the_finder_sees_a_cycle_through_an_import_inside_a_function(tmp_path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from . import b\n\nthing = 1\n",
            "b.py": "def later():\n    from .a import thing\n\n    return thing\n",
            "c.py": "from .a import thing\n",
        },
    )
    graph = import_graph(package, "pkg")
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]


def test_a_package_and_the_modules_it_imports_in_a_function_can_make_a_cycle(tmp_path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": "def create():\n    from .sub import inner\n",
            "sub/__init__.py": "",
            "sub/inner.py": "from .. import create\n",
            "alone.py": "import os\n",
        },
    )
    graph = import_graph(package, "pkg")
    assert graph["pkg"] == {"pkg.sub", "pkg.sub.inner"}  # the submodule, and the package run before it
    assert graph["pkg.sub.inner"] == {"pkg"}  # a name of the package's __init__: the package
    assert import_cycles(graph) == [["pkg", "pkg.sub.inner"]]


def test_relative_absolute_and_submodule_imports_are_resolved(tmp_path):
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "sub/__init__.py": "from .inner import x\n",
            "sub/inner.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from ..user import y\nx = 1\n",
            "user.py": "import pkg.sub.inner\nfrom pkg import sub\n\ny = 2\n",
            "other.py": "from .sub import inner\nfrom .sub.inner import x\n",
        },
    )
    graph = import_graph(package, "pkg")
    assert graph["pkg.sub"] == {"pkg.sub.inner"}
    assert graph["pkg.sub.inner"] == {"pkg.user"}  # under `if TYPE_CHECKING` too
    assert graph["pkg.user"] == graph["pkg.other"] == {"pkg.sub", "pkg.sub.inner"}
    assert import_cycles(graph) == [["pkg.sub", "pkg.sub.inner", "pkg.user"]]
    assert imports_past_the_face(graph, "pkg.sub") == [
        "pkg.other imports pkg.sub.inner",
        "pkg.user imports pkg.sub.inner",
    ]
