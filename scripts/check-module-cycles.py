#!/usr/bin/env python3
"""No module of app/src/backend imports a module that imports it back (directly or through
others): the job types import `jobs`, the worker's registry imports them, nothing imports the
worker. Reads the paths a file names (`crate::backend::x`, `super::x`, `super::super::x`, and
`use …::{x, y::z}` lists) outside comments, test modules and test-only files; exits 1 naming
every cycle."""
import pathlib
import re
import sys

BASE = pathlib.Path(__file__).resolve().parent.parent / "app/src/backend"


def code_of(path: pathlib.Path) -> str:
    """The file without comments and without its test module (from `#[cfg(test)]` on)."""
    text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("#[cfg(test)]"):
            break
        lines.append(line.split("//", 1)[0])
    return "\n".join(lines)


def expand(code: str) -> str:
    """`a::{b, c::d}` written out as `a::b a::c::d`, nested lists included."""
    pattern = re.compile(r"([A-Za-z_:]*::)\{([^{}]*)\}")
    while True:
        expanded = pattern.sub(
            lambda m: " ".join(m.group(1) + part.strip() for part in m.group(2).split(",") if part.strip()),
            code,
        )
        if expanded == code:
            return code
        code = expanded


def module_of(rel: pathlib.PurePath) -> list[str]:
    """The module path a file defines, under backend: `leads/mod.rs` → [leads]."""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def test_only(path: pathlib.Path) -> bool:
    """A file its parent declares behind `#[cfg(test)]` (`#[cfg(test)] mod x;`)."""
    parent = path.parent / "mod.rs" if path.parent != BASE else BASE / "mod.rs"
    if not parent.exists():
        return False
    name = path.stem
    return re.search(rf"#\[cfg\(test\)\]\s*mod {name};", parent.read_text()) is not None


graph: dict[str, set[str]] = {}
tops = {p.name.removesuffix(".rs") for p in BASE.iterdir() if p.name != "mod.rs"}
for path in BASE.rglob("*.rs"):
    rel = path.relative_to(BASE)
    if rel.name == "mod.rs" and len(rel.parts) == 1:
        continue
    if test_only(path):
        continue
    here = module_of(rel)
    for target in re.findall(r"(?:crate::backend|(?:super::)+)(?:::)?[a-z_]+", expand(code_of(path))):
        if target.startswith("crate::backend"):
            name = target.removeprefix("crate::backend::")
        else:
            hops = target.count("super::")
            base = here[: len(here) - hops]
            name = (base + [target.replace("super::", "")])[0]
        if name in tops and name != here[0]:
            graph.setdefault(here[0], set()).add(name)

# Strongly connected components (Tarjan): a component of more than one module is a cycle.
index, low, stack, on_stack, components = {}, {}, [], set(), []


def connect(node: str) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for nxt in sorted(graph.get(node, ())):
        if nxt not in index:
            connect(nxt)
            low[node] = min(low[node], low[nxt])
        elif nxt in on_stack:
            low[node] = min(low[node], index[nxt])
    if low[node] == index[node]:
        component = []
        while True:
            top = stack.pop()
            on_stack.discard(top)
            component.append(top)
            if top == node:
                break
        if len(component) > 1:
            components.append(sorted(component))


sys.setrecursionlimit(10_000)
for module in sorted(tops):
    if module not in index:
        connect(module)
if components:
    print("check-module-cycles: these backend modules import each other back:", file=sys.stderr)
    for component in components:
        print("  " + ", ".join(component), file=sys.stderr)
    sys.exit(1)
print(f"check-module-cycles: {len(tops)} backend modules, no import cycle")
