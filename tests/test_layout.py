"""The shape of the library, checked: no import loop between its modules (counting imports inside
functions too), no stage importing another, commands that call only the library's entry points, a
thin `cli.py`, adapt's steps without getattr dispatch, nothing loaded by file path, nothing read
relative to a checkout, one error family, all of it in errors.py."""

from __future__ import annotations

import ast
import importlib
import importlib.util
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


STAGES = ("ctga", "generate", "training", "evaluation")  # each reads the folder the one before wrote


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(ast.parse(path.read_text()), modules) - {name} for name, path in modules.items()}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_no_stage_imports_another_stage():
    graph = _graph()
    crossing = [(m, i) for m, imports in graph.items() for i in imports
                if _stage(m) and _stage(i) and _stage(m) != _stage(i)]
    assert crossing == []
    assert {_stage(m) for m in graph} >= set(STAGES)  # the check sees every stage


# what runs the stages: these may import any stage; nothing below them may import them
ORCHESTRATORS = ("adapt", "demo", "commands", "cli", "sft", "testing")


def _unit(module: str) -> str:
    """The package or top-level module a module belongs to (bonito_hub.generate.run -> generate)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _units() -> dict[str, set[str]]:
    graph = {}
    for module, imports in _graph().items():
        mine = graph.setdefault(_unit(module), set())
        mine.update(_unit(i) for i in imports if _unit(i) != _unit(module))
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_packages_and_top_level_modules_are_layered():
    """No two packages or top-level modules import each other, even through different files; no
    shared helper imports a stage or an orchestrator; no stage reaches another, even through a helper."""
    graph = _units()
    assert len(graph) > 20 and _cycles(graph) == [], _cycles(graph)
    helpers = [u for u in graph if u not in STAGES and u not in ORCHESTRATORS and u != "bonito_hub"]
    for helper in helpers:
        assert not graph[helper] & {*STAGES, *ORCHESTRATORS}, f"{helper} imports {graph[helper] & {*STAGES, *ORCHESTRATORS}}"
    for stage in STAGES:
        assert not (_reach(graph, stage) & set(STAGES)) - {stage}, f"{stage} reaches {_reach(graph, stage) & set(STAGES)}"
        assert not _reach(graph, stage) & set(ORCHESTRATORS), f"{stage} reaches an orchestrator"


def test_the_layer_check_finds_a_loop_through_two_files():
    graph = {"generate": {"push"}, "push": {"generate"}}  # generate/generation.py -> push.py -> generate/folder.py
    assert _cycles(graph) == [["generate", "push"]]


def test_push_knows_no_stage_file():
    source = (PACKAGE / "push.py").read_text()
    for name in ("run.json", "funnel.json", "adapter_config.json", "ctga_build.json", "training_record.json",
                 "records.", "data_files", "chunk-"):
        assert name not in source, f"push.py names {name!r}, a stage's file: that belongs to the stage's publish.py"


def test_commands_call_only_library_entry_points():
    """A command imports packages' entry points (bonito_hub.generate, not bonito_hub.generate.run)
    and the library's top-level modules, never a module inside a package."""
    graph = _graph()
    commands = [m for m in graph if m.startswith("bonito_hub.commands.")]
    assert len(commands) >= 7
    for module in commands:
        for imported in graph[module]:
            parts = imported.split(".")
            allowed = len(parts) <= 2 or parts[1] == "commands"
            assert allowed, f"{module} imports {imported}, inside a package; import its package's entry point"
    cli = PACKAGE / "cli.py"
    assert len(cli.read_text().splitlines()) < 80
    assert graph["bonito_hub.cli"] <= {"bonito_hub", "bonito_hub.commands", "bonito_hub.console", "bonito_hub.errors"}


def test_adapt_walks_its_steps_without_getattr():
    for name in ("runner.py", "loop.py"):
        tree = ast.parse((PACKAGE / "adapt" / name).read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        assert calls and not [n for n in calls if n.func.id in ("eval", "exec")]
        assert not [n for n in calls if n.func.id == "getattr" and not isinstance(n.args[1], ast.Constant)
                    and name == "runner.py"], "the runner calls each step's own function"
    from bonito_hub import adapt

    assert [s.name for s in adapt.steps()] == ["generate", "overlap", "before", "train", "after", "push"]
    assert all(callable(s.run) and s.run.__module__ == "bonito_hub.adapt.loop" for s in adapt.steps())


def test_adapt_is_a_runner_the_steps_and_a_report():
    """The resumable-step runner knows no step of the loop; the report runs none."""
    graph = _graph()
    assert graph["bonito_hub.adapt.runner"] & {"bonito_hub.generate", "bonito_hub.training", "bonito_hub.evaluation",
                                               "bonito_hub.adapt.loop"} == set()
    assert "bonito_hub.adapt.loop" not in graph["bonito_hub.adapt.report"]


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
        if info.name == "bonito_hub.evaluation.vllm_model" and importlib.util.find_spec("vllm") is None:
            continue  # lm-eval's vLLM model, which it subclasses, imports vLLM (the optional extra) at its top
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Exception) and obj.__module__ == info.name:
                # RenderSkip is control flow inside the CTGA renderer: a row counted as skipped, never raised out
                assert issubclass(obj, errors.BonitoError) or obj.__name__ == "RenderSkip", obj
                assert obj.__name__ == "RenderSkip" or info.name == "bonito_hub.errors", \
                    f"{obj.__name__} is defined in {info.name}; every error class lives in bonito_hub.errors"
    assert errors.cause(ValueError("first line\nsecond")) == "ValueError: first line"
    assert errors.cause(RuntimeError()) == "RuntimeError"


def test_staged_folder_replaces_only_when_complete(tmp_path):
    import pytest

    from bonito_hub.folders import MANIFEST, Manifest, staged, write_atomic

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
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "new.txt"] and \
        [p.name for p in tmp_path.iterdir()] == ["out"]
    assert set(Manifest(out).entries()) == {"new.txt"}  # the folder built whole is ours, file by file

    def half_written(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(out / "record.json", half_written)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "new.txt"] and set(Manifest(out).entries()) == {"new.txt"}


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
