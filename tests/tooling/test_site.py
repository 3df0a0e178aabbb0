"""The documentation site: built strictly and without the network, and complete offline.

The site is built once per session into a temporary folder with ``mkdocs build --strict``
(the ``docs`` extra, installed by ``make install``), with every proxy variable pointing at a
closed local port, so a fetch during the build fails it. Then the HTML and CSS it holds are
read: nothing in them may load a script, stylesheet, font or picture from another host,
table cells show ``|`` and never GitHub's ``\\|``, the architecture picture is inline SVG,
and the API reference names no private base class.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

import kipu_hub_service

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "mkdocs.yml").is_file())

_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", re.I)
# Attributes through which a page loads something, per tag (a link's href always loads:
# stylesheet, icon, preload, preconnect, ...; an <a href> is only a link and is not listed).
_LOADING = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "audio": ("src",),
    "video": ("src", "poster"),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site") / "site"
    dead_proxy = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        **{name: dead_proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
        "NO_PROXY": "",
        "no_proxy": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return folder


def html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


class _Loads(HTMLParser):
    """Everything an HTML page loads from another host, as ``tag attr=value`` lines."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in _LOADING.get(tag, ()):
                urls = [part.split()[0] for part in value.split(",") if part.strip()]
                self.found += [f"<{tag} {name}={url}>" for url in urls if _EXTERNAL.match(url)]
            elif name == "style":
                self.found += [f"<{tag} style: {url}>" for url in external_css_urls(value)]
            elif name == "class" and "mermaid" in value.split():
                # The theme fetches the mermaid script from a CDN for such an element.
                self.found.append(f"<{tag} class=mermaid>")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [f"<style>: {url}" for url in external_css_urls(data)]


def external_css_urls(css: str) -> list[str]:
    """The ``url(...)`` and ``@import`` targets of ``css`` on another host."""
    urls = [first or second for first, second in _CSS_URL.findall(css)]
    return [url for url in urls if _EXTERNAL.match(url)]


def external_loads(site: Path) -> dict[str, list[str]]:
    """Per file of ``site``, what it would load from another host."""
    found: dict[str, list[str]] = {}
    for page in html_pages(site):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        if parser.found:
            found[page.relative_to(site).as_posix()] = parser.found
    for sheet in sorted(site.rglob("*.css")):
        urls = external_css_urls(sheet.read_text(encoding="utf-8"))
        if urls:
            found[sheet.relative_to(site).as_posix()] = urls
    return found


def load_hook(name: str) -> ModuleType:
    path = ROOT / "docs" / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_page_is_built(site: Path) -> None:
    built = {page.relative_to(site).as_posix() for page in html_pages(site)}
    for page in (ROOT / "docs").rglob("*.md"):
        relative = page.relative_to(ROOT / "docs").as_posix().removesuffix(".md")
        expected = "index.html" if relative == "index" else f"{relative}/index.html"
        assert expected in built, page


def test_the_site_loads_nothing_from_another_host(site: Path) -> None:
    assert external_loads(site) == {}


def test_the_check_finds_each_kind_of_external_load(tmp_path: Path) -> None:
    planted = {
        "script.html": '<script src="https://cdn.example/mermaid.min.js"></script>',
        "style.html": "<link rel='stylesheet' href=//fonts.example/css>",
        "font.html": "<style>@font-face { src: url(https://fonts.example/a.woff2) }</style>",
        "inline.html": "<div style=\"background: url('http://x.example/a.png')\"></div>",
        "picture.html": '<img srcset="a.png 1x, https://x.example/b.png 2x">',
        "mermaid.html": '<pre class="mermaid">flowchart LR</pre>',
        "theme.css": '@import "https://fonts.example/css?family=Roboto";',
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "fine.html").write_text(
        '<a href="https://example.com/">a link</a><script src="assets/x.js"></script>'
        "<div style=\"mask: url('data:image/svg+xml,<svg xmlns=&quot;http://www.w3.org/2000/svg&quot;/>')\">"
    )
    assert sorted(external_loads(tmp_path)) == sorted(planted)


def test_no_table_shows_an_escaped_pipe(site: Path) -> None:
    shown = [page.relative_to(site).as_posix() for page in html_pages(site)]
    shown = [name for name in shown if "\\|" in (site / name).read_text(encoding="utf-8")]
    assert shown == []
    # The pages are written for GitHub (`\|` in a cell); the site shows the pipe itself.
    assert "`datetime \\| None`" in (ROOT / "docs" / "data-types.md").read_text(encoding="utf-8")
    data_types = (site / "data-types" / "index.html").read_text(encoding="utf-8")
    assert "<code>datetime | None</code>" in data_types


def test_nested_lists_are_indented_four_spaces() -> None:
    """Python-Markdown nests a list only four spaces in: a sub-item indented less (as GitHub
    allows) shows on the site as an item of the outer list."""
    shallow = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        fence = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("```", "~~~")):
                fence = not fence
            elif not fence and re.match(r" {1,3}(?:[-*+]|\d+\.) ", line):
                shallow.append(f"{page.name}:{number}")
    assert shallow == []


def test_the_pipe_hook_leaves_code_blocks_and_prose_alone() -> None:
    tables = load_hook("tables")
    page = "| a | `x \\| y` |\n|---|---|\n\n```console\n| `x \\| y` |\n```\nprose `x \\| y`\n"
    assert tables.unescape_table_pipes(page) == page.replace("| `x \\| y` |\n|", "| `x | y` |\n|")


def test_code_in_tables_wraps_only_after_a_dot_or_slash(site: Path) -> None:
    css = (ROOT / "docs" / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    client = (site / "client" / "index.html").read_text(encoding="utf-8")
    assert "<code>HubServiceClientEnvironment.<wbr>DEFAULT</code>" in client
    assert "<code>follow_redirects</code>" in client
    tables = load_hook("tables")
    html = '<p><code>a.b</code></p><table><td><code><a href="x.y/z">a.b/c</a></code></td></table>'
    assert tables.break_long_code(html) == html.replace(">a.b/c<", ">a.<wbr>b/<wbr>c<")
    # Options and hyphenated words never wrap at a hyphen; a file's extension stays on it.
    html = "<table><td><code>run [-o DIR] Retry-After _core.py f(x=1)</code></td></table>"
    assert tables.break_long_code(html) == (
        '<table><td><code>run <span class="nowrap">[-o</span> DIR] '
        '<span class="nowrap">Retry-After</span> _core.py f(<wbr>x=1)</code></td></table>'
    )
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert '<span class="nowrap">[--no-download</span>]' in cli
    # In prose too; code blocks are left alone.
    html = "<p><code>--files-in DIR</code></p><pre><code>run --files-in x</code></pre>"
    assert tables.break_long_code(html) == html.replace(
        "<p><code>--files-in", '<p><code><span class="nowrap">--files-in</span>'
    )
    performance = (site / "performance" / "index.html").read_text(encoding="utf-8")
    assert '<code><span class="nowrap">--files-in</span> DIR</code>' in performance
    assert re.search(r"\.md-typeset code \.nowrap \{[^}]*white-space: nowrap", css)
    assert re.search(r"table:not\(\[class\]\) code \{[^}]*word-break: normal", css)


def test_the_architecture_picture_is_inline_svg(site: Path) -> None:
    page = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    picture = re.search(r'<div class="diagram"><svg .*?</svg></div>', page, re.S)
    assert picture is not None
    for step in ("facade", "budget", "auth", "redirects", "retries", "parsing", "typed result"):
        assert f">{step}</text>" in picture[0]
    assert "```diagram" not in page and "mermaid" not in page


def test_a_diagram_line_that_is_not_a_box_names_its_line() -> None:
    diagrams = load_hook("diagrams")
    with pytest.raises(ValueError, match="line 2"):
        diagrams.render("a: b\nno colon here\n")
    with pytest.raises(ValueError, match="line 1: indented"):
        diagrams.render("  a: b\n")
    group, result = diagrams.parse("a: b\n  c: d => e: f\n  g: h => e\ni: j\n")
    assert [child.title for child in group.children] == ["c", "g"]
    assert [child.side for child in group.children] == [("e", "f"), ("e", "")]
    assert result.title == "i"
    # Two steps leading to the same side box draw it once.
    assert diagrams.render("a: b\n  c: d => e: f\n  g: h => e\n").count(">e</text>") == 1
    # Side boxes never overlap: each starts below the one before it.
    long = "words " * 25  # five lines or more in a side box: taller than the gap between rows
    picture = diagrams.render(f"a: b => x: {long}\nc: d => y: {long}\n")
    boxes = re.findall(r'<rect x="530" y="([\d.]+)" width="220" height="([\d.]+)"', picture)
    (first_top, first_height), (second_top, _) = ((float(a), float(b)) for a, b in boxes)
    assert second_top >= first_top + first_height


def test_the_reference_names_no_private_base(site: Path) -> None:
    reference = "".join(p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html"))
    bases = re.findall(r'<p class="doc doc-class-bases">(.*?)</p>', reference, re.S)
    shown = [re.sub(r"<[^>]+>|\s+", "", paragraph) for paragraph in bases]
    assert shown and "Bases:APIStatusError" in shown
    assert [base for base in shown if re.search(r"[:,.]_", base)] == []


def test_doctests_in_docstrings_show_as_code(site: Path) -> None:
    reference = (site / "reference" / "testing" / "index.html").read_text(encoding="utf-8")
    assert "<blockquote>" not in reference and "doctest:" not in reference
    roles = load_hook("sphinx_roles")
    docstring = "Text.\n\n>>> with f() as x:  # doctest: +SKIP\n...     g(x)\n\nMore >>> text."
    assert roles.fence_doctests(docstring) == (
        "Text.\n\n```pycon\n>>> with f() as x:\n...     g(x)\n```\n\nMore >>> text."
    )


def test_every_public_name_is_in_the_reference_once(site: Path) -> None:
    reference = "".join(p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html"))
    missing = [
        name
        for name in kipu_hub_service.__all__
        if f'id="kipu_hub_service.{name}"' not in reference
    ]
    assert missing == []
    # An error class shows what it adds, not ApiError's attributes again.
    assert 'id="kipu_hub_service.ApiError.status_code"' in reference
    assert 'id="kipu_hub_service.NotFoundError.status_code"' not in reference
    assert 'id="kipu_hub_service.ExecutionTimeoutError.timeout"' in reference
