"""A griffe extension for the API page: reST details of the docstrings as Markdown.

The package's docstrings follow python-socketio's style: Sphinx fields
(``:param x:``), roles (``:class:`Name```) and literal blocks
(``Example::``).  mkdocstrings parses the fields; this extension rewrites the
rest before they are parsed:

* a role becomes inline code (``:class:`~a.b.Name``` -> ```Name```);
* a literal block (a paragraph ending in ``::`` followed by an indented
  block) becomes a fenced Python block;
* text that follows the field list (an example, a note) is moved before it,
  since the Sphinx parser would take it as part of the last field.

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


class SphinxText(griffe.Extension):
    """Rewrite every docstring of the loaded package before mkdocstrings parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
