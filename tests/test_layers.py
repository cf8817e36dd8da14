"""The package's import structure: a lower layer never imports a higher one; no circles."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "balloon_shapes"
LAYERS = {  # first part of the module path below balloon_shapes -> layer (higher may import lower)
    "errors": 0,
    "structures": 0,
    "config": 0,
    "files": 1,
    "visualizer": 1,
    "html_report": 1,
    "resize": 1,  # Detectron2's resize in numpy + PIL: the model's and the runtime's
    "download": 2,
    "cli": 2,
    "data": 3,
    "modeling": 3,
    "deploy": 4,  # runs an exported file (runtime: no torch), makes one (graph)
    "evaluation": 5,
    "engine": 6,  # validates with the evaluation's evaluator, as Detectron2's trainer does
    "d2": 6,  # the same, for a real Detectron2 (optional); also model.engine=detectron2
    "model_loader": 7,  # a checkpoint's model, an exported file, a real Detectron2: above all
    "demo": 8,
    "commands": 8,  # each script's body that loads a model: eval.py, export.py
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the balloon_shapes modules it imports (anywhere in the file, lazily too)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                # ``from pkg import submodule`` imports the submodule, not the package's names
                found |= {s for s in subs if s in paths} or {node.module}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[module] = {t for t in found if t in paths and t != module}
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else 0


def test_every_module_has_a_layer():
    assert all(m.split(".")[1] in LAYERS for m in imports() if m != "balloon_shapes")


def test_no_import_climbs_to_a_higher_layer():
    climbs = [
        f"{m} -> {t}" for m, targets in imports().items() for t in targets if layer(t) > layer(m)
    ]
    assert climbs == []


def package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_sibling_packages_do_not_import_each_other():
    """data and modeling share a layer: neither may lean on the other."""
    sideways = [
        f"{m} -> {t}"
        for m, targets in imports().items()
        for t in targets
        if layer(t) == layer(m) >= 3 and package(t) != package(m)
    ]
    assert sideways == []


def test_no_import_circle():
    graph, state, circles = imports(), {}, []

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for t in graph[m]:
            if state.get(t) == "open":
                circles.append(path[path.index(t) :] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert circles == []
