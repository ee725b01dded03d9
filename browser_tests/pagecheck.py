"""The checks of the browser test, on one page open in headless Chromium (Playwright), network blocked.

`open_offline(context, url)` opens a page with every http(s) request recorded (and aborted), console errors,
page errors and failed requests recorded; the `check_*` functions return lists of problems (empty: fine), so
that a test can report everything wrong with a page at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Chromium's flags: no sandbox (CI containers run as root), no GPU, none of its own background traffic
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

# Console / page errors that are not the book's fault (none at present: sphinx-thebe's inline script, which stock
# Jupyter Book builds put on every page twice, is included once by _ext/vaelab_offline.py).
ALLOWED_ERRORS: list[re.Pattern] = []

HTTP = re.compile(r"^(https?|wss?)://", re.IGNORECASE)


@dataclass
class PageLog:
    network: list[str] = field(default_factory=list)  # http(s) requests the page tried (all aborted)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)  # local files that did not load

    def problems(self) -> list[str]:
        out = [f"network request attempted: {u}" for u in self.network]
        out += [f"console error: {m}" for m in self.console_errors if not _allowed(m)]
        out += [f"page error: {m}" for m in self.page_errors if not _allowed(m)]
        out += [f"request failed: {m}" for m in self.failed_requests]
        return out


def _allowed(message: str) -> bool:
    return any(p.search(message) for p in ALLOWED_ERRORS)


# the two screens every page is checked on: a laptop's and a phone's (an iPhone 12-15's CSS width)
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def new_offline_context(browser, viewport: str = "desktop"):
    """A browser context with no network: offline, and every http(s) request aborted (pages record them)."""
    context = browser.new_context(offline=True, viewport=VIEWPORTS[viewport])
    context.route(HTTP, lambda route: route.abort("internetdisconnected"))
    return context


def open_offline(context, url: str, timeout_ms: int = 30_000):
    """Open url in a new page of an offline context; returns (page, PageLog) once the page has settled."""
    page = context.new_page()
    log = PageLog()
    page.on("request", lambda r: log.network.append(r.url) if HTTP.match(r.url) else None)
    page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log.page_errors.append(str(e)))

    def failed(request):
        if not HTTP.match(request.url):  # http(s) ones are in log.network already
            log.failed_requests.append(f"{_short(request.url)} ({request.failure})")

    page.on("requestfailed", failed)
    page.goto(url, wait_until="load", timeout=timeout_ms)
    settle(page, timeout_ms)
    return page, log


def settle(page, timeout_ms: int = 30_000) -> None:
    """Wait until MathJax has typeset the page, fonts are loaded, every image has loaded (lazy ones made
    eager) and matplotlib animations have shown their first frame."""
    page.evaluate(
        """async (timeoutMs) => {
            const timeout = new Promise(resolve => setTimeout(resolve, timeoutMs));
            const work = (async () => {
                if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
                    await MathJax.startup.promise;
                }
                const images = Array.from(document.images);
                for (const img of images) { if (img.loading === "lazy") img.loading = "eager"; }
                await Promise.all(images.map(img => img.complete ? null : new Promise(resolve => {
                    img.addEventListener("load", resolve, {once: true});
                    img.addEventListener("error", resolve, {once: true});
                })));
                await document.fonts.ready;
            })();
            await Promise.race([work, timeout]);
        }""",
        timeout_ms,
    )
    # to_jshtml sets its first frame from a setTimeout(..., 0) after the page has parsed
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll("input.anim-slider")).every(s => {
               const a = s.closest(".animation"); const img = a && a.querySelector("img");
               return img && img.getAttribute("src"); })""",
        timeout=timeout_ms,
    )


# TeX left as text (a JavaScript regular expression): a delimiter ($$, \(, \[, \begin{), an inline $...$ pair around
# something that is not a number ("$5 to $10" is prose), or a TeX command (\mathrm, \lambda) outside its maths
RAW_TEX = "|".join([
    r"\$\$", r"\\\(", r"\\\)", r"\\\[", r"\\\]", r"\\begin\{",
    r"(^|[^\\\w$])\$(?![\s\d])[^$\n]{1,200}\$",
    r"\\(math[a-z]+|frac|log|exp|mid|sum|prod|int|le|ge|approx|cdot|odot|left|right|operatorname|text"
    r"|[a-z]*epsilon|lambda|theta|phi|sigma|mu|gamma|alpha|beta|Sigma|Gamma)(?![A-Za-z])",
])


def check_math(page) -> tuple[int, list[str]]:
    """Typeset maths: every Sphinx math element (class "math") holds an mjx-container, and no raw TeX
    delimiter ($$, \\(, \\[, \\begin{) is left in the page's text outside code. Returns (number of
    mjx-container elements, problems)."""
    result = page.evaluate(
        r"""rawTex => {
            const math = Array.from(document.querySelectorAll(".math"));
            const untypeset = math.filter(el => !el.querySelector("mjx-container"))
                                  .map(el => el.textContent.trim().slice(0, 80));
            const skip = "pre, code, script, style, textarea, kbd, samp, mjx-container, .highlight, .cell_input";
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
                acceptNode(node) {
                    const parent = node.parentElement;
                    return parent && parent.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
                }
            });
            const delimiter = new RegExp(rawTex);
            const raw = [];
            while (walker.nextNode()) {
                const text = walker.currentNode.nodeValue;
                if (delimiter.test(text)) raw.push(text.trim().slice(0, 120));
            }
            return {math: math.length, containers: document.querySelectorAll("mjx-container").length,
                    untypeset, raw, mathjax: !!(window.MathJax && window.MathJax.version)};
        }""",
        RAW_TEX,
    )
    problems = [f"math not typeset: {t!r}" for t in result["untypeset"]]
    problems += [f"raw TeX left in the text: {t!r}" for t in result["raw"]]
    if result["math"] and not result["mathjax"]:
        problems.append(f"{result['math']} math elements but MathJax did not load")
    return result["containers"], problems


def check_wide_math(page) -> list[str]:
    """Display equations fit their column or scroll inside it: one wider than its box with no horizontally
    scrolling element between it and the page is clipped (or pushes the page sideways), and one that sticks out to
    the left of its scrolling box (centred in a flex box) cannot be scrolled to — both are problems."""
    clipped = page.evaluate(
        r"""() => {
            const out = [];
            for (const el of document.querySelectorAll('mjx-container[display="true"]')) {
                const math = el.querySelector("mjx-math");
                if (!math) continue;
                let node = el, scroller = null;
                while (node && node !== document.body) {
                    const o = getComputedStyle(node).overflowX;
                    if (o === "auto" || o === "scroll") { scroller = node; break; }
                    node = node.parentElement;
                }
                const box = el.parentElement.getBoundingClientRect(), formula = math.getBoundingClientRect();
                const outside = formula.left < box.left - 1 || formula.right > box.right + 1;
                // in a scrolling box, what sticks out on the left (before the scroll origin) cannot be reached
                const unreachable = scroller && scroller.scrollLeft === 0 &&
                                    formula.left < scroller.getBoundingClientRect().left - 1;
                if ((outside && !scroller) || unreachable) {
                    const section = el.closest("section");
                    out.push(`${Math.round(formula.width)} px formula in a ${Math.round(box.width)} px column` +
                             (section ? ` (section #${section.id})` : ""));
                }
            }
            return out;
        }"""
    )
    return [f"display equation clipped: {c}" for c in clipped]


def check_page_width(page) -> list[str]:
    """Nothing makes the page wider than the screen (which a phone then shows shrunk or scrolled sideways): the
    widest elements that stick out are named."""
    result = page.evaluate(
        r"""() => {
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width + 1) return [];
            const out = [];
            for (const el of document.querySelectorAll("main *")) {
                const r = el.getBoundingClientRect();
                if (r.right > width + 1 && !el.closest("pre, .highlight, table, mjx-container")) {
                    const parent = el.parentElement.getBoundingClientRect();
                    if (parent.right <= width + 1)  // the outermost element that sticks out
                        out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} ` +
                                 `${Math.round(r.width)} px`);
                }
            }
            return out.slice(0, 5);
        }"""
    )
    return [f"wider than the screen: {r}" for r in result]


# the smallest share of its drawn size a figure may be shown at on a phone (_ext/static/vaelab-figures.js keeps 0.6)
READABLE_FIGURE_SCALE = 0.55


def check_figure_scale(page, minimum: float = READABLE_FIGURE_SCALE) -> list[str]:
    """Every output figure (a PNG a cell drew) is shown at no less than ``minimum`` of its drawn width, or fits the
    column whole: a multi-panel figure shrunk to a phone's width has unreadable labels."""
    result = page.evaluate(
        r"""minimum => {
            const out = [];
            for (const img of document.querySelectorAll(".cell_output img, figure img")) {
                if (!img.naturalWidth) continue;
                const scale = img.getBoundingClientRect().width / img.naturalWidth;
                if (scale < minimum - 1e-3) {
                    const figure = img.closest("figure");
                    out.push(`${figure && figure.id ? figure.id : "an output image"} shown at ` +
                             `${Math.round(100 * scale)} % of its ${img.naturalWidth} px`);
                }
            }
            return out;
        }""",
        minimum,
    )
    return [f"figure too small to read: {r}" for r in result]


def open_chapter_list(page) -> list[str]:
    """On a narrow screen, the chapter list (the primary sidebar) opens from its toggle and shows its links."""
    toggle = page.locator("button.primary-toggle:visible, label.primary-toggle:visible").first
    if not toggle.count():
        return ["no visible button to open the chapter list"]
    toggle.click()
    page.wait_for_timeout(400)
    links = page.locator(".bd-sidebar-primary a.reference.internal")
    if not links.count() or not links.first.is_visible():
        return ["the chapter list does not open from its button"]
    return []


def check_tables(page) -> tuple[int, list[str]]:
    """Markdown tables rendered as tables: no row of a pipe table (a `|---|` rule, or a line that starts and ends
    with `|`) is left in the page's text outside code. Returns (number of <table> elements, problems)."""
    result = page.evaluate(
        r"""() => {
            const skip = "pre, code, script, style, textarea, kbd, samp, mjx-container, .highlight, .cell_input";
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
                acceptNode(node) {
                    const parent = node.parentElement;
                    return parent && parent.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT;
                }
            });
            const rule = /\|\s*:?-{3,}:?\s*\|/;
            const row = /^\s*\|.*\|\s*$/m;
            const raw = [];
            while (walker.nextNode()) {
                const text = walker.currentNode.nodeValue;
                if (rule.test(text) || row.test(text)) raw.push(text.trim().slice(0, 120));
            }
            return {tables: document.querySelectorAll("table").length, raw};
        }"""
    )
    return result["tables"], [f"a Markdown table left as raw text: {t!r}" for t in result["raw"]]


def check_images(page) -> tuple[int, list[str]]:
    """Every <img> has loaded (naturalWidth > 0). Returns (number of images, problems)."""
    images = page.evaluate(
        """() => Array.from(document.images).map(img => ({
               src: img.currentSrc || img.src, width: img.naturalWidth, complete: img.complete}))"""
    )
    problems = [f"image not loaded: {_short(i['src']) or '(no src)'}"
                for i in images if not (i["complete"] and i["width"] > 0)]
    return len(images), problems


# a cheap fingerprint of an image's src (a data: URI of many kB), computed in the page
_SRC_FINGERPRINT = """(el) => {
    const a = el.closest(".animation"); const img = a && a.querySelector("img");
    if (!img) return null;
    const s = img.getAttribute("src") || ""; let h = 2166136261;
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return {fingerprint: s.length + ":" + (h >>> 0), loaded: img.complete && img.naturalWidth > 0,
            value: +el.value, min: +el.min, max: +el.max};
}"""


def check_sliders(page) -> tuple[int, list[str]]:
    """Every matplotlib `to_jshtml` animation: its values are written under its slider (input.anim-slider), one per
    frame, across the slider's width; moved to another frame it changes the frame shown (the src of the animation's
    img), and the new frame loads. Returns (sliders, problems)."""
    sliders = page.locator("input.anim-slider")
    n = sliders.count()
    problems = []
    for i in range(n):
        slider = sliders.nth(i)
        before = slider.evaluate(_SRC_FINGERPRINT)
        if before is None:
            problems.append(f"slider {i}: no img in its .animation")
            continue
        if not before["loaded"]:
            problems.append(f"slider {i}: the first frame did not load")
        ticks = slider.evaluate("""el => { const row = el.parentElement.querySelector(".vaelab-ticks");
            if (!row) return null; const s = el.getBoundingClientRect(), r = row.getBoundingClientRect();
            return {n: row.children.length, offset: Math.abs(s.left - r.left) + Math.abs(s.right - r.right)}; }""")
        if ticks is None:
            problems.append(f"slider {i}: no values written under it (vl.widgets' .vaelab-ticks)")
        elif ticks["n"] != before["max"] - before["min"] + 1 or ticks["offset"] > 2:
            problems.append(f"slider {i}: {ticks['n']} values under {before['max'] - before['min'] + 1} positions, "
                            f"ends {ticks['offset']:.0f} px apart from the slider's")
        if before["max"] <= before["min"]:
            continue  # a one-frame animation: nothing to move to
        target = before["max"] if before["value"] != before["max"] else before["min"]
        slider.scroll_into_view_if_needed()
        slider.fill(str(target))  # sets the value and fires the input event, as a user's drag does
        page.wait_for_timeout(50)
        after = slider.evaluate(_SRC_FINGERPRINT)
        if after["fingerprint"] == before["fingerprint"]:
            problems.append(f"slider {i}: moving it to frame {target} did not change the image")
        elif not after["loaded"]:
            problems.append(f"slider {i}: frame {target} did not load")
    return n, problems


def check_widgets(page, timeout_ms: int = 15_000) -> tuple[int, list[str]]:
    """Embedded Jupyter widgets: every widget view script has been rendered by the widget manager (a
    .widget-subarea with content before it). Returns (widget views, problems)."""
    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if not views:
        return 0, []
    try:
        page.wait_for_function(
            """(n) => Array.from(document.querySelectorAll(".widget-subarea"))
                           .filter(d => d.childElementCount > 0).length >= n""",
            arg=views, timeout=timeout_ms,
        )
    except Exception:  # Playwright's TimeoutError
        rendered = page.locator(".widget-subarea > *").count()
        return views, [f"{views} widget views but {rendered} rendered"]
    return views, []


def screenshot(page, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def _short(url: str, n: int = 100) -> str:
    return url if len(url) <= n else url[:n] + "..."
