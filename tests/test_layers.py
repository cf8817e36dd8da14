"""The package's import structure: a lower layer never imports a higher one; no circles."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "balloon_shapes"
LAYERS = {  # module path below balloon_shapes (its longest listed prefix) -> layer
    "errors": 0,
    "structures": 0,
    "config": 0,
    "files": 1,
    "visualizer": 1,
    "html_report": 1,
    "deploy.runtime": 1,  # numpy + a runtime only: a deployed model needs no torch
    "download": 2,
    "cli": 2,
    "data": 3,
    "modeling": 3,
    "deploy.exported": 4,  # an exported file behind torchvision's interface
    "d2.checkpointer": 4,  # Detectron2 loading weights through ours
    "d2.yacs_config": 4,
    "d2.engine_model": 4,  # model.engine=detectron2
    "model_loader": 5,  # a checkpoint's model and its data's classes: above all models
    "evaluation": 6,
    "engine": 7,  # validates with the evaluation's evaluator, as Detectron2's trainer does
    "d2": 7,  # the same, for a real Detectron2 (optional)
    "demo": 8,
    "deploy": 9,  # export: loads models as the demos do
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


def layer_key(module: str) -> str | None:
    """The longest prefix of ``module`` (below balloon_shapes) that LAYERS lists."""
    parts = module.split(".")[1:]
    prefixes = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
    return next((p for p in prefixes if p in LAYERS), None)


def layer(module: str) -> int:
    return LAYERS[layer_key(module)] if "." in module else 0


def test_every_module_has_a_layer():
    assert [m for m in imports() if m != "balloon_shapes" and layer_key(m) is None] == []


def test_a_package_split_across_layers_keeps_its_low_modules_low():
    assert layer("balloon_shapes.deploy.runtime") == 1 < layer("balloon_shapes.deploy.graph")
    assert layer("balloon_shapes.d2.engine_model") < layer("balloon_shapes.model_loader")


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
