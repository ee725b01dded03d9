"""The browser test's own checks, on small pages built here in a temporary folder, without Jupyter Book.

- a matplotlib FuncAnimation(...).to_jshtml() page, as a chapter shows it: the slider check passes on it, and
  fails on a copy whose slider is disconnected from the image (so the check can fail);
- a page wired like the book's widget pages (the static files of _config.yml's html_static_path, its
  mathjax_path and nb_ipywidgets_js): MathJax typesets, the embedded widgets render (a Label with maths goes
  through the MathJax.Hub shim), and nothing is fetched from the network.
Needs the vendored assets (`make vendor`), not the built book.
"""

from __future__ import annotations

import html
import json
import shutil
import sys
from pathlib import Path

import pagecheck
import pytest
import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "_ext"))
import vaelab_offline  # noqa: E402  (the book's Sphinx extension: strips to_jshtml's CDN link)

SPHINX_CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]


def to_jshtml_page(frames: int = 4, as_the_book_shows_it: bool = True) -> str:
    """A matplotlib to_jshtml animation as a page; by default made a slider as vl.widgets' static() makes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    (line,) = ax.plot([0, 1], [0, 0])
    ax.set_ylim(0, frames)

    def update(i):
        line.set_ydata([0, i])
        return (line,)

    animation = FuncAnimation(fig, update, frames=frames)
    jshtml = animation.to_jshtml()
    plt.close(fig)
    assert "font-awesome" in jshtml, "to_jshtml no longer links FontAwesome: simplify vaelab_offline"
    if as_the_book_shows_it:
        from vaelab.widgets import _as_a_slider

        jshtml = _as_a_slider(jshtml, "frame", [str(i) for i in range(frames)])
        assert "vaelab-ticks" in jshtml, "matplotlib's to_jshtml template changed: update vaelab.widgets"
    body = vaelab_offline.strip_remote_assets(jshtml)
    assert not vaelab_offline.remote_loads(body), vaelab_offline.remote_loads(body)
    return f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head><body>{body}</body></html>\n"


def open_checked(context, path: Path):
    page, log = pagecheck.open_offline(context, path.as_uri())
    return page, log


def test_slider_check_on_to_jshtml(tmp_path, context):
    page_file = tmp_path / "animation.html"
    page_file.write_text(to_jshtml_page())
    page, log = open_checked(context, page_file)
    n, problems = pagecheck.check_sliders(page)
    assert n == 1
    assert not problems
    assert not log.problems()
    n_images, problems = pagecheck.check_images(page)
    assert n_images == 1 and not problems


def test_table_check_accepts_tables_and_finds_raw_pipe_text(tmp_path, context):
    """The regression it guards: myst-nb's CommonMark rendered every computed table as a paragraph of `| ... |`."""
    table = "<table><tr><th>model</th><th>FD</th></tr><tr><td>VAE</td><td>27.4</td></tr></table>"
    raw = "<p>| model | FD |\n|---|---:|\n| VAE | 27.4 |</p>"
    code = "<pre>| a | b |\n|---|---|</pre>"  # code may show a table's source
    for body, tables, n_problems in ((table + code, 1, 0), (raw, 0, 1), ("<p>E log p(x|z) = -102</p>", 0, 0)):
        page_file = tmp_path / "tables.html"
        page_file.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head><body>{body}</body></html>\n")
        page, _ = open_checked(context, page_file)
        n, problems = pagecheck.check_tables(page)
        assert (n, len(problems)) == (tables, n_problems), (body, problems)


def test_slider_check_detects_a_dead_slider(tmp_path, context):
    page_file = tmp_path / "dead.html"
    page_file.write_text(to_jshtml_page().replace("oninput=", "data-oninput="))
    page, _ = open_checked(context, page_file)
    n, problems = pagecheck.check_sliders(page)
    assert n == 1
    assert problems and "did not change the image" in problems[0]


def test_slider_check_wants_the_values_under_the_slider(tmp_path, context):
    page_file = tmp_path / "bare.html"
    page_file.write_text(to_jshtml_page(as_the_book_shows_it=False))
    page, _ = open_checked(context, page_file)
    n, problems = pagecheck.check_sliders(page)
    assert n == 1 and problems and "no values written under it" in problems[0]


def static_folder(into: Path) -> Path:
    """_static/ as Sphinx assembles it from html_static_path (only the folders of our config)."""
    static = into / "_static"
    for entry in SPHINX_CONFIG["html_static_path"]:
        source = ROOT / entry
        if not source.is_dir():
            pytest.fail(f"{source} is missing: run make vendor", pytrace=False)
        shutil.copytree(source, static, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
    return static


def widget_state():
    """The embedded state of a few widgets, as a notebook saves it: a slider, a label with maths, a button
    with a FontAwesome icon."""
    import ipywidgets as w
    from ipywidgets.embed import embed_data

    box = w.VBox([w.IntSlider(3, min=0, max=10, description="n"),
                  w.Label(value=r"the label $x^2 + y^2$"),
                  w.Button(description="ok", icon="check")])
    data = embed_data(views=[box])
    box.close_all()
    return data["manager_state"], data["view_specs"]


def test_widgets_and_math_offline(tmp_path, context):
    pytest.importorskip("ipywidgets")
    static_folder(tmp_path)
    state, views = widget_state()

    def script(src: str, attrs: dict | None = None) -> str:
        extra = "".join(f' {k}="{html.escape(str(v))}"' for k, v in (attrs or {}).items())
        return f'<script src="_static/{src}"{extra}></script>'

    # what Sphinx (mathjax_path, mathjax3_config from MyST) and myst-nb (widget state, nb_ipywidgets_js) put in
    # the head of a widget page, in their order
    head = [
        '<script>window.MathJax = {"options": {"processHtmlClass": '
        '"tex2jax_process|mathjax_process|math|output_area"}}</script>',
        script(SPHINX_CONFIG["mathjax_path"], {"defer": "defer"}),
        f'<script type="application/vnd.jupyter.widget-state+json">{json.dumps(state)}</script>',
    ]
    head += [script(src, attrs) for src, attrs in SPHINX_CONFIG["nb_ipywidgets_js"].items()]
    body = ['<p>Inline <span class="math notranslate nohighlight">\\(a^2 + b^2 = c^2\\)</span> and display</p>',
            '<div class="math notranslate nohighlight">\\[\\int_0^1 x\\,dx = \\tfrac12\\]</div>']
    body += [f'<div class="output"><script type="application/vnd.jupyter.widget-view+json">{json.dumps(v)}'
             "</script></div>" for v in views]
    page_file = tmp_path / "widgets.html"
    page_file.write_text("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>\n" + "\n".join(head) +
                         "\n</head><body>\n" + "\n".join(body) + "\n</body></html>\n")

    page, log = open_checked(context, page_file)
    n_views, problems = pagecheck.check_widgets(page)
    assert n_views == 1 and not problems, problems
    # the Label's maths, typeset through the MathJax.Hub.Queue shim
    page.wait_for_function("""() => Array.from(document.querySelectorAll(".widget-label"))
                                    .some(label => label.querySelector("mjx-container"))""", timeout=10_000)
    containers, problems = pagecheck.check_math(page)
    assert containers >= 3 and not problems, problems
    assert page.locator(".widget-slider, .widget-hslider").count() == 1
    # the button's icon font comes from _static/html-manager/, beside the widget manager
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    pagecheck.screenshot(page, tmp_path / "widgets.png")
    assert not log.problems(), log.problems()


def test_raw_dollar_maths_is_found_and_prices_and_code_are_not(tmp_path, context):
    page_file = tmp_path / "dollars.html"
    for body, n_problems in (("<p>the term $\\mathbb E_q[x]$ is raw</p>", 1), ("<p>$5 to $10 a month</p>", 0),
                             ("<p>in code: <code>f'${x}$'</code></p>", 0),
                             # inline maths broken by a line that Markdown read as a list item
                             ("<p>Show that $\\mathcal L = \\log p</p><ul><li>(1 - x)$</li></ul>", 1),
                             ("<p>a path C:\\data and a \\ alone</p>", 0)):
        page_file.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head><body>{body}</body></html>\n")
        page, _ = open_checked(context, page_file)
        assert len(pagecheck.check_math(page)[1]) == n_problems, body


def test_wide_math_and_page_width_checks(tmp_path, browser):
    """A display equation wider than its column is clipped unless it scrolls, and cannot be scrolled to where the
    theme centres it in a flex box; the book's stylesheet makes it scroll from its start. Checked at a phone's width
    with MathJax from _vendor, as the book loads it."""
    static_folder(tmp_path)
    formula = "\\[" + " + ".join(f"x_{{{i}}}^2" for i in range(60)) + "\\]"
    head = ('<script>window.MathJax = {"options": {"processHtmlClass": "math"}}</script>'
            f'<script defer src="_static/{SPHINX_CONFIG["mathjax_path"]}"></script>'
            "<style>div.math { display: flex; justify-content: center; }</style>")  # as pydata-sphinx-theme does
    for stylesheet, n_clipped in (("", 1), ("<style>div.math { overflow-x: auto; }</style>", 1),
                                  ('<link rel="stylesheet" href="_static/vaelab-book.css">', 0)):
        page_file = tmp_path / "wide.html"
        page_file.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>{head}{stylesheet}</head><body>"
                             f"<main style='overflow: hidden'><div class='math'>{formula}</div></main></body></html>\n")
        context = pagecheck.new_offline_context(browser, "phone")
        page, _ = open_checked(context, page_file)
        assert len(pagecheck.check_wide_math(page)) == n_clipped, stylesheet
        context.close()
    page_file.write_text("<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head><body><main>"
                         "<div><img style='width: 800px; height: 10px'></div></main></body></html>\n")
    context = pagecheck.new_offline_context(browser, "phone")
    page, _ = open_checked(context, page_file)
    problems = pagecheck.check_page_width(page)
    assert problems and "img" in problems[0] and "800 px" in problems[0]
    context.close()


def test_a_wide_figure_on_a_phone_is_shrunk_unless_the_book_script_keeps_it_readable(tmp_path, browser):
    """A 1,500 px multi-panel figure in a 390 px screen is shown at a quarter of its size (labels unreadable);
    with the book's script and stylesheet it keeps a readable scale and scrolls in its own box, the page no wider."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    static_folder(tmp_path)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3), dpi=100)
    fig.savefig(tmp_path / "wide.png")
    plt.close(fig)
    body = "<main><figure id='fig-wide'><div class='cell_output'><img src='wide.png' style='max-width: 100%'>" \
           "</div></figure><p>text</p></main>"
    book = '<link rel="stylesheet" href="_static/vaelab-book.css"><script src="_static/vaelab-figures.js"></script>'
    for head, n_small in (("", 1), (book, 0)):
        page_file = tmp_path / "figure.html"
        page_file.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>{head}</head><body>{body}</body>"
                             "</html>\n")
        context = pagecheck.new_offline_context(browser, "phone")
        page, _ = open_checked(context, page_file)
        page.wait_for_timeout(200)
        small = pagecheck.check_figure_scale(page)
        assert len(small) == n_small, (head, small)
        assert not pagecheck.check_page_width(page), head
        if n_small:
            assert "fig-wide shown at" in small[0]
        context.close()
