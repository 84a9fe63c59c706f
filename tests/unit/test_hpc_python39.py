"""The HPC launcher runs on the nodes' own Python, often 3.9 (RHEL 9's python3, the MsPASS
course's module): every module `import mspass_roles.hpc` loads must parse as Python 3.9,
import only the standard library at module level, and use nothing of the standard library
newer than 3.9. (The HPC tier runs it under a real 3.9 interpreter too.)"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.support.paths import REPO

PACKAGE = REPO / "mspass_roles"
#: standard-library names that came after 3.9 (the ones a launcher could plausibly use)
NEWER = {"pairwise": "itertools.pairwise (3.10)", "stdlib_module_names": "sys.stdlib_module_names (3.10)",
         "aiter": "aiter (3.10)", "anext": "anext (3.10)", "EncodingWarning": "EncodingWarning (3.10)",
         "get_annotations": "inspect.get_annotations (3.10)", "TypeAlias": "typing.TypeAlias (3.10)",
         "ParamSpec": "typing.ParamSpec (3.10)", "bit_count": "int.bit_count (3.10)", "tomllib": "tomllib (3.11)",
         "ExceptionGroup": "ExceptionGroup (3.11)", "Self": "typing.Self (3.11)", "batched": "itertools.batched (3.12)",
         "UTC": "datetime.UTC (3.11)", "chdir": "contextlib.chdir (3.11)"}
#: keyword arguments that came after 3.9
NEWER_KEYWORDS = {("zip", "strict"), ("dataclass", "slots"), ("dataclass", "kw_only"), ("field", "kw_only")}


def module_path(name: str) -> Path:
    path = REPO / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def top_level_imports(tree: ast.Module, package: str) -> list[str]:
    """Modules imported when the module is (not inside functions: those run in containers)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                found.append(target)
                # `from . import access`: submodules
                found += [f"{target}.{a.name}" for a in node.names if module_path(f"{target}.{a.name}").exists()]
            else:
                found.append(node.module)
    return found


def closure() -> dict[str, ast.Module]:
    seen: dict[str, ast.Module] = {}
    todo = ["mspass_roles.hpc", "mspass_roles.hpc.launcher", "mspass_roles.hpc.cli", "mspass_roles.hpc.__main__"]
    while todo:
        name = todo.pop()
        if name in seen or not name.startswith("mspass_roles"):
            continue
        path = module_path(name)
        tree = ast.parse(path.read_text(), str(path), feature_version=(3, 9))  # 3.10 syntax fails here
        seen[name] = tree
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in top_level_imports(tree, package):
            if imported.startswith("mspass_roles"):
                todo.append(imported)
            else:
                assert imported.split(".")[0] in sys.stdlib_module_names and imported != "__future__" or \
                    imported == "__future__", f"{name} imports {imported}, not in Python's standard library"
    return seen


def test_the_launcher_needs_nothing_newer_than_python_39():
    modules = closure()
    assert {"mspass_roles.hpc.core", "mspass_roles.supervisor", "mspass_roles.settings",
            "mspass_roles.hpc.yamlfile"} <= set(modules)
    problems = []
    for name, tree in modules.items():
        future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Name, ast.Attribute)):
                word = node.id if isinstance(node, ast.Name) else node.attr
                if word in NEWER:
                    problems.append(f"{name}:{node.lineno}: {NEWER[word]}")
            if isinstance(node, ast.Call):
                func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                problems += [f"{name}:{node.lineno}: {func}({k.arg}=) is newer than 3.9" for k in node.keywords
                             if (func, k.arg) in NEWER_KEYWORDS]
            # `X | None` is evaluated in 3.9 unless annotations are postponed
            annotation = getattr(node, "annotation", None) or getattr(node, "returns", None)
            if annotation is not None and not future and any(isinstance(n, ast.BinOp) for n in ast.walk(annotation)):
                problems.append(f"{name}:{node.lineno}: `X | Y` in an annotation without "
                                "`from __future__ import annotations`")
    assert not problems, "\n".join(problems)
