"""Measure the package's house: modules, modules side by side at the top, import cycles,
private names imported across modules, lines, and the import-linter contracts with the names
they list. Usage: python scripts/measure_house.py [ROOT]"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import tomllib  # Python 3.11+ (a script for maintainers)


def module_names(package: Path) -> dict[str, Path]:
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports(names: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Import edges between the package's modules (also inside functions), private names taken."""
    edges: dict[str, set[str]] = defaultdict(set)
    private = []
    for name, path in names.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in names:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges[name].add(full if full in names else node.module)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append(f"{name} <- {full}")
    return edges, private


def cycles(names: dict[str, Path], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in names:
        if v not in index:
            visit(v)
    return found


def contracts(pyproject: Path) -> tuple[int, int]:
    """(import-linter contracts, module and package names they list, each mention counted)."""
    found = tomllib.loads(pyproject.read_text()).get("tool", {}).get("importlinter", {}).get("contracts", [])
    names = 0
    for contract in found:
        for key in ("layers", "source_modules", "forbidden_modules", "ancestors", "modules"):
            for entry in contract.get(key, []):
                names += len([n for n in re.split(r"[:|]", entry) if n.strip()])
    return len(found), names


def main(root: str = ".") -> None:
    package = Path(root) / "tuco_eval"
    names = module_names(package)
    edges, private = imports(names)
    found = cycles(names, edges)
    top = [p for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    lines = sum(len(p.read_text().splitlines()) for p in names.values())
    print(f"modules: {len(names)} ({len(top)} side by side in tuco_eval/)")
    print(f"packages: {sorted(n for n, p in names.items() if p.name == '__init__.py')}")
    print(f"import cycles: {len(found)} {found}")
    print(f"private names imported across modules: {len(private)} {private}")
    print(f"lines: {lines}")
    count, listed = contracts(Path(root) / "pyproject.toml")
    print(f"import-linter contracts: {count}, names listed in them: {listed}")


if __name__ == "__main__":
    main(*sys.argv[1:])
