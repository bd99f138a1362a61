#!/usr/bin/env python3
"""Writes the README's attribute reference from the `doc =` strings in rules/**/*.bzl.

    tools/rule_docs.py           rewrite the generated section of README.md
    tools/rule_docs.py --check   exit 1 if README.md is out of date (make test runs this)

Starlark's syntax is a subset of Python's, so the .bzl files are read with Python's own parser;
nothing is evaluated. Every `rule(...)`/`repository_rule(...)` whose name is public (or whose
public macro names it), and every public macro's docstring, is listed.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- BEGIN GENERATED: tools/rule_docs.py -->"
END = "<!-- END GENERATED -->"

# Public entry files, in README order.
ENTRY_FILES = ["rules/oci_python.bzl", "rules/defs.bzl", "rules/repositories.bzl"]


def literal(node, scope):
    """The value of a string/number/bool/list/dict literal, following names bound in `scope`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = literal(node.operand, scope)
        return -value if isinstance(value, int) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal(node.left, scope), literal(node.right, scope)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        return None
    if isinstance(node, ast.Name):
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        return scope.get(node.id)
    if isinstance(node, ast.List):
        return [literal(e, scope) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:  # **spread
                spread = literal(v, scope)
                if isinstance(spread, dict):
                    out.update(spread)
            else:
                out[literal(k, scope)] = attr_or_literal(v, scope)
        return out
    if isinstance(node, ast.Call):
        name = call_name(node)
        if name == "dict":
            out = {}
            for arg in node.args:
                value = literal(arg, scope)
                if isinstance(value, dict):
                    out.update(value)
            for kw in node.keywords:
                value = literal(kw.value, scope)
                if kw.arg is None and isinstance(value, dict):
                    out.update(value)
                elif kw.arg is not None:
                    out[kw.arg] = attr_or_literal(kw.value, scope)
            return out
        if name and name.startswith("attr."):
            return attr_or_literal(node, scope)
    return None


def call_name(call):
    func = call.func
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
        return ".".join(reversed(parts))
    return None


def attr_or_literal(node, scope):
    if isinstance(node, ast.Call) and (call_name(node) or "").startswith("attr."):
        info = {"type": call_name(node)[len("attr."):]}
        for kw in node.keywords:
            if kw.arg in ("doc", "mandatory", "default", "values"):
                info[kw.arg] = literal(kw.value, scope)
        return info
    return literal(node, scope)


class Scope(dict):
    """Names bound in a module; a miss falls back to a value loaded from another file."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner

    def get(self, name, default=None):
        if name in self:
            return self[name]
        if name in self.owner.loads:
            label, original = self.owner.loads[name]
            path = resolve(label, self.owner.path)
            if path:
                return module(path).scope.get(original, default)
        return default


class Module:
    def __init__(self, path):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.scope = Scope(self)
        self.rules = {}  # name -> (doc, attrs)
        self.macros = {}  # name -> FunctionDef
        self.loads = {}  # local name -> (file, symbol)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and call_name(stmt.value) == "load":
                label = literal(stmt.value.args[0], {})
                for arg in stmt.value.args[1:]:
                    symbol = literal(arg, {})
                    self.loads[symbol] = (label, symbol)
                for kw in stmt.value.keywords:
                    self.loads[kw.arg] = (label, literal(kw.value, {}))
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                name = stmt.targets[0].id
                value = stmt.value
                if isinstance(value, ast.Call) and call_name(value) in ("rule", "repository_rule"):
                    kws = {kw.arg: kw.value for kw in value.keywords}
                    doc = literal(kws["doc"], self.scope) if "doc" in kws else ""
                    attrs = literal(kws["attrs"], self.scope) if "attrs" in kws else {}
                    self.rules[name] = (doc or "", attrs or {})
                elif isinstance(value, ast.Name) and value.id in self.loads:
                    self.loads[name] = self.loads[value.id]
                else:
                    self.scope[name] = literal(value, self.scope)
            elif isinstance(stmt, ast.FunctionDef):
                self.macros[stmt.name] = stmt


def resolve(label, here):
    """Path of a load() label relative to the repository root; None for other repositories."""
    if label.startswith("@") and not label.startswith("@rules_pyoci//"):
        return None
    label = label.split("//", 1)[-1] if "//" in label else label
    if ":" in label:
        package, name = label.split(":", 1)
        if not package and not label.startswith("//"):
            return here.parent / name
        return ROOT / package / name
    return ROOT / label


modules = {}


def module(path):
    path = path.resolve()
    if path not in modules:
        modules[path] = Module(path)
    return modules[path]


def find(symbol, mod):
    """(module, kind, name) where `symbol`, as seen from `mod`, is defined."""
    if symbol in mod.rules:
        return mod, "rule", symbol
    if symbol in mod.macros:
        return mod, "macro", symbol
    if symbol in mod.loads:
        label, original = mod.loads[symbol]
        path = resolve(label, mod.path)
        return find(original, module(path)) if path else None
    return None


def rules_called_by(macro, mod):
    """Rules a macro instantiates, in order (followed into loaded files)."""
    found = []
    for node in ast.walk(macro):
        if not isinstance(node, ast.Name):
            continue
        hit = find(node.id, mod)
        if hit is None:
            continue
        if hit[1] == "rule":
            candidates = [hit]
        elif node.id.startswith("_") and hit[2] != macro.name:
            # A private helper macro: the rules it creates are this macro's too.
            candidates = rules_called_by(hit[0].macros[hit[2]], hit[0])
        else:
            candidates = []
        for candidate in candidates:
            if candidate[2] not in [f[2] for f in found]:
                found.append(candidate)
    return found


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def attr_table(attrs, skip=()):
    lines = ["| attribute | type | default | description |", "|---|---|---|---|"]
    for name, info in attrs.items():
        if name.startswith("_") or name in skip or not isinstance(info, dict):
            continue
        kind = info.get("type", "")
        default = "**required**" if info.get("mandatory") else (
            "" if info.get("default") in (None, "", [], {}) else "`{}`".format(cell(repr(info["default"])))
        )
        doc = info.get("doc") or ""
        if info.get("values"):
            doc += " One of: " + ", ".join("`{}`".format(v) for v in info["values"]) + "."
        lines.append("| `{}` | {} | {} | {} |".format(name, kind, default, cell(doc)))
    return lines


def render():
    out = [BEGIN, ""]
    for entry in ENTRY_FILES:
        mod = module(ROOT / entry)
        out += ["### `{}`".format(entry.replace("rules/", "@rules_pyoci//rules:")), ""]
        public = [n for n in list(mod.macros) + list(mod.rules) + list(mod.loads) if not n.startswith("_")]
        public += [n for n in mod.scope if not n.startswith("_")]
        seen = set()
        for stmt in mod.tree.body:
            names = []
            if isinstance(stmt, ast.FunctionDef):
                names = [stmt.name]
            elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                names = [stmt.targets[0].id]
            for name in names:
                if name.startswith("_") or name in seen:
                    continue
                seen.add(name)
                hit = find(name, mod)
                if hit is None:
                    continue
                where, kind, real = hit
                if kind == "rule":
                    doc, attrs = where.rules[real]
                    out += ["#### `{}`".format(name), "", cell(doc), ""] + attr_table(attrs) + [""]
                else:
                    macro = where.macros[real]
                    doc = ast.get_docstring(macro) or ""
                    out += ["#### `{}`".format(name), "", "```", doc.strip(), "```", ""]
                    for rmod, _, rname in rules_called_by(macro, where):
                        rdoc, attrs = rmod.rules[rname]
                        out += ["Attributes of the underlying rule `{}`:".format(rname), ""]
                        out += attr_table(attrs) + [""]
    out.append(END)
    return "\n".join(out)


def main():
    text = README.read_text()
    if BEGIN not in text or END not in text:
        sys.exit("rule_docs: README.md has no generated section markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if "--check" in sys.argv[1:]:
        if new != text:
            sys.exit("rule_docs: README.md's attribute reference is out of date: run tools/rule_docs.py")
        return
    README.write_text(new)


if __name__ == "__main__":
    main()
