"""Make untrusted mail HTML safe to show, and readable as plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

#: Formatting tags a mail body may keep; everything else is unwrapped (text kept).
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
        "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "tt", "u", "ul",
    }
)  # fmt: skip

#: Tags removed together with their content (never shown, never turned into text).
DROPPED_CONTENT_TAGS: frozenset[str] = frozenset(
    {"script", "style", "title", "head", "noscript", "template", "iframe", "object", "embed",
     "xml", "svg", "math"}
)  # fmt: skip

_CELL_ATTRS = {"align", "valign", "colspan", "rowspan", "width", "height"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": set(_CELL_ATTRS),
    "th": set(_CELL_ATTRS),
    "table": {"width", "border", "cellpadding", "cellspacing"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "font": {"color"},
    "blockquote": {"cite"},
    "p": {"align"},
    "div": {"align"},
}

_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_IMAGE_PREFIXES = ("cid:", "https:", "data:image/")

_CLEANER = None


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    """Narrow URL attributes further than nh3's scheme list: images only cid:, data:image, https."""
    if attr == "src":
        lowered = value.strip().lower()
        return value if tag == "img" and lowered.startswith(_IMAGE_PREFIXES) else None
    if attr == "href":
        lowered = value.strip().lower()
        return value if lowered.startswith(_LINK_SCHEMES) or lowered.startswith("#") else None
    return value


def _cleaner() -> nh3.Cleaner:
    """Build the nh3 cleaner once; it is reused for every message."""
    global _CLEANER
    if _CLEANER is None:
        _CLEANER = nh3.Cleaner(
            tags=set(ALLOWED_TAGS),
            clean_content_tags=set(DROPPED_CONTENT_TAGS),
            attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
            attribute_filter=_filter_attribute,
            strip_comments=True,
            link_rel="noopener noreferrer nofollow",
            url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
            url_relative="deny",
            set_tag_attribute_values={"a": {"target": "_blank"}},
        )
    return _CLEANER


def sanitize_html(html: str) -> str:
    """Return mail HTML with scripts, styles, event handlers and unsafe URLs removed."""
    if not html:
        return ""
    return _cleaner().clean(html)


_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre"})
_SKIP_TAGS = DROPPED_CONTENT_TAGS
_VOID_TAGS = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "wbr", "area", "base"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collect readable text from HTML: paragraphs, line breaks, lists, links, quotes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self._line: list[str] = []
        self._line_depth = 0
        self._pending_break = 0  # 1 = new line, 2 = blank line before the next text
        self._skip_depth = 0
        self._pre_depth = 0
        self._quote_depth = 0
        self._lists: list[list[int | None]] = []  # one [next number or None] per open ol/ul
        self._links: list[tuple[str, list[str]]] = []  # (href, text shown inside the link)
        self._cell_open = False

    # -- output helpers -------------------------------------------------------------------------
    def _request_break(self, kind: int) -> None:
        self._pending_break = max(self._pending_break, kind)

    def _end_line(self) -> None:
        self.lines.append((self._line_depth, "".join(self._line).rstrip()))
        self._line = []

    def _start_text(self) -> None:
        """Apply a pending line or paragraph break before new text."""
        if self._line:
            if not self._pending_break:
                return
            self._end_line()
        if self._pending_break == 2 and self.lines and self.lines[-1][1]:
            self.lines.append((min(self.lines[-1][0], self._quote_depth), ""))
        self._pending_break = 0
        self._line_depth = self._quote_depth

    def _emit(self, text: str, *, raw: bool = False) -> None:
        if not text:
            return
        if not self._line or self._pending_break:
            if not raw and not self._pre_depth:
                text = text.lstrip(" ")
                if not text:
                    return
            self._start_text()
        self._line.append(text)
        for _, shown in self._links:
            shown.append(text)

    # -- parser callbacks -----------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag == "br":
            self._start_text()
            self._end_line()
            self._line_depth = self._quote_depth
            return
        if tag == "hr":
            self._request_break(2)
            self._emit("----")
            self._request_break(2)
            return
        if tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._emit(f"[{_SPACES.sub(' ', alt)}]")
            return
        if tag in ("td", "th"):
            if self._cell_open:
                self._emit("\t", raw=True)
            self._cell_open = True
            return
        if tag == "tr":
            self._cell_open = False
        if tag in _BLOCK_TAGS:
            self._request_break(2 if tag in _PARAGRAPH_TAGS else 1)
        if tag == "pre":
            self._pre_depth += 1
        elif tag == "blockquote":
            self._quote_depth += 1
        elif tag in ("ul", "ol"):
            number: int | None = None
            if tag == "ol":
                try:
                    number = int(dict(attrs).get("start") or 1)
                except ValueError:
                    number = 1
            self._lists.append([number])
        elif tag == "li":
            indent = "  " * max(len(self._lists) - 1, 0)
            marker = "-"
            if self._lists and self._lists[-1][0] is not None:
                number = self._lists[-1][0]
                marker = f"{number}."
                self._lists[-1][0] = number + 1
            self._emit(f"{indent}{marker} ", raw=True)
        elif tag == "a":
            self._links.append(((dict(attrs).get("href") or "").strip(), []))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            if self._skip_depth:
                self._skip_depth -= 1
            return
        if self._skip_depth:
            return
        if tag == "a" and self._links:
            href, shown = self._links.pop()
            target = href[7:] if href.lower().startswith("mailto:") else href
            label = "".join(shown).strip()
            if href.lower().startswith(_LINK_SCHEMES) and target and target not in label:
                self._emit(f" ({target})" if label else target)
            return
        if tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
        elif tag == "blockquote" and self._quote_depth:
            if self._line:
                self._end_line()
            self._quote_depth -= 1
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        elif tag in ("td", "th"):
            return
        if tag in _BLOCK_TAGS:
            self._request_break(2 if tag in _PARAGRAPH_TAGS else 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            for index, part in enumerate(data.replace("\r\n", "\n").split("\n")):
                if index:
                    self._start_text()
                    self._end_line()
                    self._line_depth = self._quote_depth
                self._emit(part, raw=True)
            return
        self._emit(_SPACES.sub(" ", data))

    def text(self) -> str:
        if self._line:
            self._end_line()
        rendered = []
        for depth, line in self.lines:
            prefix = "> " * depth
            rendered.append((prefix + line) if line else prefix.rstrip())
        return _MANY_BLANK_LINES.sub("\n\n", "\n".join(rendered)).strip("\n")


def html_to_text(html: str) -> str:
    """Turn mail HTML into readable plain text for search, previews and text-only replies."""
    if not html:
        return ""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is very lenient
        pass
    return extractor.text()
