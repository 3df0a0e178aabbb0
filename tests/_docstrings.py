"""Which public names of a module lack a docstring (used by the CLI and workflow tests)."""

from __future__ import annotations

import ast
from pathlib import Path


def undocumented(path: Path) -> list[str]:
    """Public functions, classes, methods and constants of a module without a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = [] if ast.get_docstring(tree) else ["module"]

    def documented_value(body: list[ast.stmt], i: int) -> bool:
        after = body[i + 1] if i + 1 < len(body) else None
        return isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for i, node in enumerate(body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name.startswith("_") and node.name != "__call__":
                    continue
                if not ast.get_docstring(node):
                    missing.append(prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{node.name}.")
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                name = getattr(target, "id", "_")
                if not name.startswith("_") and not documented_value(body, i):
                    missing.append(prefix + name)

    visit(tree.body, "")
    return missing
