"""A griffe extension for the API page: reST details of the docstrings as Markdown.

The package's docstrings follow python-socketio's style: Sphinx fields
(``:param x:``), roles (``:class:`Name```) and literal blocks
(``Example::``).  mkdocstrings parses the fields; this extension rewrites the
rest before they are parsed:

* a role becomes inline code (``:class:`~a.b.Name``` -> ```Name```);
* a literal block (a paragraph ending in ``::`` followed by an indented
  block) becomes a fenced Python block;
* text that follows the field list (an example, a note) is moved before it,
  since the Sphinx parser would take it as part of the last field;
* a blocking method made at run time from a coroutine method
  (``name = blocking(AsyncManagerBase.name)``, the synchronous adapter's
  cross-server API) is documented as that method, without ``async``;
* a method that overrides a documented one without a docstring of its own
  shows the inherited docstring, as Python's ``inspect.getdoc`` does.

It only changes what the documentation shows, never the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|mod|meth|func|attr|data|exc|obj):`([^`]+)`")
_FIELD = re.compile(r"^:(?:param|parameter|arg|argument|key|keyword|type|raises?|except|exception"
                    r"|returns?|rtype|yields?|var|ivar|cvar|vartype)\b[^:]*:")


def _role_text(match: re.Match[str]) -> str:
    target = match.group(1).strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target.lstrip('.')}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _fence_literal_blocks(lines: list[str]) -> list[str]:
    """Turn reST literal blocks (``text::`` + indented block) into fenced code."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.strip().startswith(":"):
            base = _indent(line)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _indent(lines[j]) > base:
                head = line.rstrip()[:-2].rstrip()
                out.append(f"{head}:" if head.strip() else "")
                block: list[str] = []
                while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                    block.append(lines[j])
                    j += 1
                while block and not block[-1].strip():
                    block.pop()
                depth = min(_indent(b) for b in block if b.strip())
                pad = " " * base
                out.append("")
                out.append(f"{pad}```python")
                out.extend(f"{pad}{b[depth:]}" if b.strip() else "" for b in block)
                out.append(f"{pad}```")
                out.append("")
                i = j
                continue
        out.append(line)
        i += 1
    return out


def _fields_last(lines: list[str]) -> list[str]:
    """Move the paragraphs that follow the field list in front of it."""
    start = next((n for n, line in enumerate(lines) if _FIELD.match(line)), None)
    if start is None:
        return lines
    end = start
    n = start
    while n < len(lines):
        line = lines[n]
        if _FIELD.match(line) or (line.strip() and _indent(line) > 0):
            end = n + 1
        elif line.strip():
            break
        n += 1
    fields, after = lines[start:end], lines[end:]
    if not any(line.strip() for line in after):
        return lines
    before = lines[:start]
    while before and not before[-1].strip():
        before.pop()
    return [*before, "", *after, "", *fields]


def rewrite(text: str) -> str:
    """Return ``text`` (a docstring) with its reST details written as Markdown."""
    text = _ROLE.sub(_role_text, text)
    return "\n".join(_fence_literal_blocks(_fields_last(text.split("\n"))))


_COROUTINE_NOTE = "Note: this method is a coroutine."


def _blocking_twin(cls: griffe.Class, name: str, value: Any) -> griffe.Function | None:
    """The coroutine method that ``name = blocking(Base.method)`` wraps, as a blocking one."""
    if not (isinstance(value, griffe.ExprCall) and str(value.function) == "blocking"
            and len(value.arguments) == 1):
        return None
    base_name, _, method_name = str(value.arguments[0]).rpartition(".")
    base = _class_named(cls, base_name)
    coroutine = base.members.get(method_name) if base is not None else None
    if not isinstance(coroutine, griffe.Function):
        return None
    twin = griffe.Function(
        name,
        parameters=coroutine.parameters,
        returns=coroutine.returns,
        lineno=coroutine.lineno,
        endlineno=coroutine.endlineno,
    )
    if coroutine.docstring is not None:
        text = coroutine.docstring.value.replace(_COROUTINE_NOTE, "").rstrip()
        text = text.replace("await ", "")  # the examples, too, block
        twin.docstring = griffe.Docstring(text, parent=twin)
    twin.labels = coroutine.labels - {"async"}
    return twin


def _class_named(cls: griffe.Class, name: str) -> griffe.Class | None:
    """The class ``name`` as ``cls``'s module sees it: one of its bases, or a name the
    module defines or imports (the synchronous manager wraps the asyncio one's methods)."""
    base = next((b for b in cls.resolved_bases if b.name == name), None)
    if base is not None:
        return base
    member = cls.module.members.get(name)
    try:
        target = member.final_target if isinstance(member, griffe.Alias) else member
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return target if isinstance(target, griffe.Class) else None


class SphinxText(griffe.Extension):
    """Rewrite every docstring of the loaded package before mkdocstrings parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # once the whole package is loaded: a wrapped method may live in another module
        for cls in _classes(pkg):
            for name, member in list(cls.members.items()):
                if isinstance(member, griffe.Attribute):
                    twin = _blocking_twin(cls, name, member.value)
                    if twin is not None:
                        cls.set_member(name, twin)
        for cls in _classes(pkg):
            for name, member in cls.members.items():
                if isinstance(member, griffe.Function) and member.docstring is None:
                    _inherit_docstring(cls, name, member)


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    found: list[griffe.Class] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            found.append(member)
        if isinstance(member, (griffe.Module, griffe.Class)):
            found.extend(_classes(member))
    return found


def _inherit_docstring(cls: griffe.Class, name: str, method: griffe.Function) -> None:
    try:
        bases = cls.mro()
    except (ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return
    for base in bases:
        inherited = base.members.get(name)
        if inherited is not None and not inherited.is_alias and inherited.docstring is not None:
            method.docstring = griffe.Docstring(inherited.docstring.value, parent=method)
            return
