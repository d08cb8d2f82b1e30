"""A tiny DOM for the cockpit tests: find elements by ``data-testid`` / ``data-field`` and read
their text, with the standard library's HTML parser (no browser needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def all(self, testid: str | None = None, **data: str) -> list[Node]:
        """Descendants with ``data-testid=testid`` and ``data-<key>=value`` for each of ``data``
        (underscores in keys read as dashes)."""
        wanted = {f"data-{k.replace('_', '-')}": v for k, v in data.items()}
        if testid is not None:
            wanted["data-testid"] = testid
        return [n for n in self.iter() if all(n.attrs.get(k) == v for k, v in wanted.items())]

    def one(self, testid: str | None = None, **data: str) -> Node:
        found = self.all(testid, **data)
        assert len(found) == 1, f"expected one {testid} {data}, found {len(found)}"
        return found[0]

    def field(self, name: str) -> str:
        """The text of the one descendant with ``data-field=name``."""
        return self.one(field=name).text


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str | bytes) -> Node:
    builder = _Builder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    builder.close()
    return builder.root
