#!/usr/bin/env python3
"""No module of app/src/backend imports a module that imports it back (directly or through
others): the job types import `jobs`, the worker's registry imports them, nothing imports the
worker. Reads `crate::backend::X` and `super::X` paths outside comments; exits 1 naming every
cycle."""
import pathlib
import re
import sys

BASE = pathlib.Path(__file__).resolve().parent.parent / "app/src/backend"
graph: dict[str, set[str]] = {}
for path in BASE.rglob("*.rs"):
    rel = path.relative_to(BASE)
    top = rel.parts[0].removesuffix(".rs")
    if top == "mod":
        continue
    nested = len(rel.parts) > 1 and rel.name != "mod.rs"
    code = "\n".join(l for l in path.read_text().splitlines() if not l.strip().startswith("//"))
    for prefix, name in re.findall(r"(crate::backend::|super::)([a-z_]+)", code):
        # `super::` inside a submodule file names its own parent module, not a sibling of it.
        if prefix == "super::" and nested:
            continue
        if name != top:
            graph.setdefault(top, set()).add(name)
modules = set(graph) | {p.relative_to(BASE).parts[0].removesuffix(".rs") for p in BASE.iterdir()}
graph = {m: {d for d in deps if d in modules} for m, deps in graph.items()}

cycles = set()


def walk(start: str, node: str, path: list[str]) -> None:
    for nxt in sorted(graph.get(node, ())):
        if nxt == start:
            cycles.add(" -> ".join(path + [start]))
        elif nxt not in path:
            walk(start, nxt, path + [nxt])


for module in sorted(graph):
    walk(module, module, [module])
if cycles:
    print("check-module-cycles: these backend modules import each other back:", file=sys.stderr)
    for cycle in sorted(cycles, key=len):
        print(f"  {cycle}", file=sys.stderr)
    sys.exit(1)
print(f"check-module-cycles: {len(graph)} backend modules, no import cycle")
