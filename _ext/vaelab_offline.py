"""Sphinx extension of the vaelab book: keep every page free of network loads.

The vendored MathJax, require.js and widget manager are wired in `_config.yml`; this extension handles what
notebook outputs bring along:

- matplotlib's `Animation.to_jshtml()` links FontAwesome 4.4 from a CDN for its buttons' icons. The theme
  already ships FontAwesome (its `fa fa-play` icons draw the same buttons), so the link is dropped.
- Any other `<script src>`, `<link href>`, `<img src>`, `<iframe src>`, ... that points at http(s) in a page's
  body is a warning (the strict build turns it into an error): the HTML book must work with no network.
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


def _on_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
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
    app.connect("html-page-context", _on_page_context)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
