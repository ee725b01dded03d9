"""Sphinx extension of the vaelab book: keep every page free of network loads.

The vendored MathJax, require.js and widget manager are wired in `_config.yml`; this extension handles what
notebook outputs bring along, and the page's own scripts:

- matplotlib's `Animation.to_jshtml()` links FontAwesome 4.4 from a CDN for its buttons' icons. The theme
  already ships FontAwesome (its `fa fa-play` icons draw the same buttons), so the link is dropped.
- Any other `<script src>`, `<link href>`, `<img src>`, `<iframe src>`, ... that points at http(s) in a page's
  body is a warning (the strict build turns it into an error): the HTML book must work with no network.
- A script registered twice (sphinx-thebe's inline configuration) is included once.
- The book's stylesheet (_ext/static/vaelab-book.css: wide equations scroll instead of being clipped) and scripts
  (_ext/static/vaelab-sidebar.js: the header's sidebar buttons work, so a phone can open the chapter list;
  _ext/static/vaelab-figures.js: a multi-panel figure on a phone scrolls at a readable scale) are added.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# matplotlib's to_jshtml output: <link rel="stylesheet"\nhref="https://maxcdn.bootstrapcdn.com/font-awesome/...">
FONT_AWESOME_LINK = re.compile(
    r"<link\b[^>]*\bhref=[\"']https?://[^\"']*/font-awesome/[^\"']*[\"'][^>]*>\s*", re.IGNORECASE
)
# a tag that makes the browser fetch its URL (an <a href> is only a link, and is fine)
REMOTE_LOAD = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?\b(src|href|data)=[\"'](https?:)?//",
    re.IGNORECASE,
)


def strip_remote_assets(html: str) -> str:
    """The page body without the CDN links that notebook outputs add and the page does not need."""
    return FONT_AWESOME_LINK.sub("", html)


def remote_loads(html: str) -> list[str]:
    """The tags in html that would load something from the network (first 80 characters of each)."""
    return [html[m.start():m.start() + 80] for m in REMOTE_LOAD.finditer(html)]


def unique_scripts(scripts: list) -> list:
    """The page's scripts, each once: sphinx-thebe registers its inline configuration script (``const THEBE_JS_URL
    = ...``) once per read of the sources, and Jupyter Book reads them twice, so every page declared the constant
    twice and logged a console error."""
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        filename = getattr(script, "filename", script) or ""  # an inline script's is None or "" (two registrations)
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _on_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])
    body = context.get("body")
    if not body:
        return
    body = strip_remote_assets(body)
    context["body"] = body
    for tag in remote_loads(body):
        logger.warning(
            "page %s loads from the network: %r...; the HTML book must work offline (vendor the file, or "
            "show a static fallback)", pagename, tag, type="vaelab", subtype="offline", location=pagename,
        )


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _on_page_context, priority=900)  # after the theme's handlers add scripts
    app.add_css_file("vaelab-book.css")  # from _ext/static (html_static_path in _config.yml)
    app.add_js_file("vaelab-sidebar.js")  # the header's sidebar buttons open the sidebars (a phone's chapter list)
    app.add_js_file("vaelab-figures.js")  # a multi-panel figure on a phone scrolls at a readable scale
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
