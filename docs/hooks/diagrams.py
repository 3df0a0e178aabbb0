"""A mkdocs hook: a ```diagram fence becomes an inline SVG flow chart when the site is built.

The site must render without the network, so no diagram script is loaded in the reader's
browser: the picture is drawn here, in Python, from a few lines of text kept in the page.

The format, one box per line, top to bottom::

    facade: client.service_api.get_status(id)
    one per-call loop: _funnel.py
      budget: max_elapsed bounds every try, wait and hop
      error mapping: a non-2xx answer or a failure => typed error: an ApiError subclass
    typed result: ServiceExecution, ...

- ``title: note`` is a box; arrows join each box to the next one at the same level.
- Lines indented under a box make it a group: a frame around those boxes.
- ``=> title: note`` at the end of a line adds a dashed arrow from that box to a box beside
  the chain. Lines naming the same side box share it: after the first, ``=> title`` is enough.

Colours and fonts come from the theme's CSS variables (docs/stylesheets/extra.css), so the
picture follows the light and dark palettes.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"^```diagram[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)

# Layout, in SVG user units (the picture scales to the page's width).
WIDTH = 760
MAIN_X, MAIN_W = 10, 440  # the chain of boxes
SIDE_X, SIDE_W = 530, 220  # the boxes beside it
PAD, INDENT, GAP, LINE = 10, 18, 22, 17
TITLE_SIZE, NOTE_SIZE = 15, 13
CHAR_W = 0.53 * NOTE_SIZE  # a generous average width, so notes wrap before the edge


@dataclass
class Node:
    title: str
    note: str
    side: tuple[str, str] | None = None
    children: list[Node] = field(default_factory=list)


def parse(text: str) -> list[Node]:
    """The boxes of a diagram, nested by indentation (two or more spaces a level)."""
    roots: list[Node] = []
    stack: list[tuple[int, Node]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        body, _, side = raw.strip().partition("=>")
        node = Node(*_title_note(body, number))
        if side.strip():
            node.side = _title_note(side if ":" in side else side + ":", number)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif indent:
            raise ValueError(f"diagram line {number}: indented, but under no box")
        else:
            roots.append(node)
        stack.append((indent, node))
    if not roots:
        raise ValueError("diagram: no boxes")
    return roots


def _title_note(text: str, number: int) -> tuple[str, str]:
    title, colon, note = text.partition(":")
    if not colon or not title.strip():
        raise ValueError(f"diagram line {number}: write `title: note`, got {text.strip()!r}")
    return title.strip(), note.strip()


class _Canvas:
    def __init__(self, ident: str) -> None:
        self.ident = ident
        self.parts: list[str] = []
        self.sides: dict[str, list[tuple[float, float]]] = {}
        self.side_notes: dict[str, str] = {}

    def text(self, x: float, y: float, value: str, css: str, size: int) -> None:
        value = html.escape(value)
        self.parts.append(
            f'<text x="{x:g}" y="{y:g}" font-size="{size}" class="{css}">{value}</text>'
        )

    def arrow(self, x1: float, y1: float, x2: float, y2: float, css: str = "edge") -> None:
        self.parts.append(
            f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" class="{css}" '
            f'marker-end="url(#{self.ident}-head)"/>'
        )

    def box(self, node: Node, x: float, y: float, width: float) -> float:
        """Draw ``node`` (a box, or a group with its children) at ``y``; return its bottom."""
        lines = textwrap.wrap(node.note, max(12, int((width - 2 * PAD) / CHAR_W)))
        head = PAD + TITLE_SIZE + len(lines) * LINE + PAD
        if not node.children:
            self.parts.append(
                f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{head:g}" rx="6" '
                'class="box"/>'
            )
            bottom = y + head
        else:
            start = len(self.parts)
            inner_y, previous = y + head, None
            for child in node.children:
                if previous is not None:
                    self.arrow(x + width / 2, previous, x + width / 2, inner_y + GAP - 2)
                    inner_y += GAP
                previous = self.box(child, x + INDENT, inner_y, width - 2 * INDENT)
                inner_y = previous
            bottom = inner_y + INDENT
            self.parts.insert(
                start,
                f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{bottom - y:g}" rx="8" '
                'class="group"/>',
            )
        self.text(x + PAD, y + PAD + TITLE_SIZE - 2, node.title, "title", TITLE_SIZE)
        for index, line in enumerate(lines, 1):
            self.text(x + PAD, y + PAD + TITLE_SIZE + index * LINE - 3, line, "note", NOTE_SIZE)
        if node.side is not None:
            title, note = node.side
            self.sides.setdefault(title, []).append((x + width, y + head / 2))
            self.side_notes[title] = self.side_notes.get(title) or note
        return bottom

    def side_boxes(self, height: float) -> float:
        """Draw the boxes beside the chain, each level with the mean of its sources (or just
        below the one before it)."""
        bottom, free = height, 0.0
        for title, sources in self.sides.items():
            note = self.side_notes[title]
            lines = textwrap.wrap(note, max(12, int((SIDE_W - 2 * PAD) / CHAR_W)))
            tall = PAD + TITLE_SIZE + len(lines) * LINE + PAD
            top = max(free, sum(y for _, y in sources) / len(sources) - tall / 2)
            free = top + tall + GAP / 2
            for x, y in sources:
                self.arrow(x, y, SIDE_X - 2, min(max(y, top + 8), top + tall - 8), "edge side")
            self.box(Node(title, note), SIDE_X, top, SIDE_W)
            bottom = max(bottom, top + tall)
        return bottom


def render(text: str, ident: str = "diagram") -> str:
    """The SVG of one diagram, wrapped in a ``<div class="diagram">``."""
    roots = parse(text)
    canvas = _Canvas(ident)
    y, previous = 1.0, None
    for node in roots:
        if previous is not None:
            canvas.arrow(MAIN_X + MAIN_W / 2, previous, MAIN_X + MAIN_W / 2, y + GAP - 2)
            y += GAP
        previous = y = canvas.box(node, MAIN_X, y, MAIN_W)
    height = canvas.side_boxes(y) + 2
    label = " → ".join(node.title for node in roots)
    marker = (
        f'<defs><marker id="{ident}-head" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" class="head"/></marker></defs>'
    )
    return (
        f'<div class="diagram"><svg role="img" '
        f'viewBox="0 0 {WIDTH} {height:g}" aria-label="{html.escape(label)}">'
        f"<title>{html.escape(label)}</title>{marker}{''.join(canvas.parts)}</svg></div>"
    )


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """mkdocs hook: replace every ```diagram fence of a page by its picture."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        try:
            return render(match["body"], f"diagram-{count}") + "\n"
        except ValueError as error:
            raise ValueError(f"{page.file.src_uri}: {error}") from None

    return _FENCE.sub(replace, markdown)
