"""The shape of the library, checked: no import loop between its modules (counting imports inside
functions too), nothing loaded by file path, nothing read relative to a checkout, one error family."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import bonito_hub

PACKAGE = Path(bonito_hub.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """Every bonito_hub module a module imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in modules:
            for a in node.names:  # `from pkg import submodule` depends on the submodule
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in modules else node.module)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                result.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return result


def test_the_import_graph_has_no_loop():
    modules = _modules()
    graph = {name: _imports(ast.parse(path.read_text()), modules) - {name} for name, path in modules.items()}
    assert sum(len(v) for v in graph.values()) > 50  # the walk sees the imports
    assert _cycles(graph) == []
    # generation and CTGA stay apart
    ctga = {m for m in modules if m.startswith("bonito_hub.ctga")}
    generate = {m for m in modules if m.startswith("bonito_hub.generate")}
    assert not any(graph[m] & generate for m in ctga) and not any(graph[m] & ctga for m in generate)


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_nothing_is_loaded_by_path_or_read_from_a_checkout():
    for name, path in _modules().items():
        source = path.read_text()
        tree = ast.parse(source)
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "__file__" not in names, f"{name} finds files relative to itself; use bonito_hub.resources"
        assert not {"spec_from_file_location", "exec_module"} & attrs, f"{name} loads a module by path"


def test_every_error_raised_on_purpose_is_a_bonito_error():
    from bonito_hub import errors

    kinds = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)]
    assert len(kinds) >= 8 and all(issubclass(k, errors.BonitoError) for k in kinds)
    for info in pkgutil.walk_packages(bonito_hub.__path__, "bonito_hub."):
        if info.name.startswith("bonito_hub.testing"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Exception) and obj.__module__ == info.name:
                # RenderSkip is control flow inside the CTGA renderer: a row counted as skipped, never raised out
                assert issubclass(obj, errors.BonitoError) or obj.__name__ == "RenderSkip", obj
    assert errors.cause(ValueError("first line\nsecond")) == "ValueError: first line"
    assert errors.cause(RuntimeError()) == "RuntimeError"


def test_staged_folder_replaces_only_when_complete(tmp_path):
    import pytest

    from bonito_hub.folders import staged, write_atomic

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged(out) as folder:
            (folder / "new.txt").write_text("new")
            raise RuntimeError("the build failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (out / "old.txt").exists()
    with staged(out) as folder:
        (folder / "new.txt").write_text("new")
        assert not (out / "new.txt").exists()  # nothing shows before the block ends
    assert [p.name for p in out.iterdir()] == ["new.txt"] and [p.name for p in tmp_path.iterdir()] == ["out"]

    def half_written(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(out / "record.json", half_written)
    assert [p.name for p in out.iterdir()] == ["new.txt"]


def test_both_engines_declare_the_engine_protocol():
    from bonito_hub.generate.engines import Engine, TransformersEngine, VllmEngine

    assert Engine in TransformersEngine.__mro__ and Engine in VllmEngine.__mro__

    class Lacking:  # a would-be engine without max_context
        name, model_name, tokenizer = "x", "m", None

        def generate(self, prompts, sampling, seed):
            return [[] for _ in prompts]

    class Complete(Lacking):
        max_context = 512

    assert isinstance(Complete(), Engine) and not isinstance(Lacking(), Engine)
