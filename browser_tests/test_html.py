"""The built book in headless Chromium with no network (`make browser-test`, after `make book`).

Every page in _toc.yml (the root page and every chapter, read from the file) is opened from disk (file://) with
every http(s) request blocked and recorded, and must show:
- typeset maths (mjx-container elements, no raw $$ or \\( left) when it has maths,
- every Markdown table (the chapters' computed tables included) rendered as a table, none left as raw `| ... |` text,
- every <img> loaded, every matplotlib to_jshtml slider working (moving it changes the frame shown),
- every embedded Jupyter widget rendered,
- the launch buttons (Binder, Colab, JupyterHub: those set in _config.yml) on notebook pages,
- every exercise of a chapter numbered within it ("Exercise 2.1") and showing its label,
- no console error, no page error, no failed request, no http(s) request attempted.
Every page is opened again on a phone's screen (390 px): maths typeset and not clipped, nothing wider than the
screen, every figure at a readable scale (a wide one scrolls sideways in its own box), the chapter list opens from
its button.
A full-page screenshot of each page goes to _build/screenshots/ (phone: _build/screenshots/phone/; SCREENSHOTS=...).
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import pagecheck
import pytest
import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "_ext"))
from vaelab_exercises import chapter_of  # noqa: E402  (the book's extension: which chapter a page is)

SOURCE_SUFFIXES = (".ipynb", ".md", ".rst")


def toc_pages(root: Path = ROOT) -> list[str]:
    """The documents of _toc.yml in order (root first), as Sphinx docnames: paths without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages: list[str] = []

    def docname(path: str) -> str:
        for suffix in SOURCE_SUFFIXES:
            if path.endswith(suffix):
                return path[: -len(suffix)]
        return path

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "root" in node:
                pages.append(docname(node["root"]))
            if "file" in node:
                pages.append(docname(node["file"]))
            if "glob" in node:
                for suffix in SOURCE_SUFFIXES:
                    for match in sorted(glob.glob(str(root / (node["glob"] + suffix)))):
                        pages.append(docname(Path(match).relative_to(root).as_posix()))
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                if key in node:
                    walk(node[key])

    walk(toc)
    return list(dict.fromkeys(pages))  # each once, in order


def source_of(name: str, root: Path = ROOT) -> Path | None:
    for suffix in SOURCE_SUFFIXES:
        if (root / (name + suffix)).is_file():
            return root / (name + suffix)
    return None


def launch_urls(root: Path = ROOT) -> dict[str, str]:
    """The launch services set in _config.yml: name -> URL prefix of its button's link."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    buttons = config.get("launch_buttons") or {}
    names = {"binderhub_url": "Binder", "colab_url": "Colab", "jupyterhub_url": "JupyterHub"}
    return {names[key]: buttons[key].rstrip("/") for key in names if buttons.get(key)}


PAGES = toc_pages()


def check_exercises(page, name: str) -> list[str]:
    """A chapter's exercises are numbered within it (Exercise 2.1, 2.2, ...) and each shows its label."""
    chapter = chapter_of(name)
    exercises = page.locator("div.exercise.admonition")
    if chapter is None:
        return []
    problems = []
    for i in range(exercises.count()):
        exercise = exercises.nth(i)
        title = exercise.locator("p.admonition-title").first.inner_text()
        if not title.startswith(f"Exercise {chapter}.{i + 1}"):
            problems.append(f"exercise {i + 1} is titled {title!r}, not 'Exercise {chapter}.{i + 1} ...'")
        label = exercise.get_attribute("id")
        shown = exercise.locator("p.exercise-label")
        if not shown.count() or not shown.first.is_visible() or label not in shown.first.inner_text():
            problems.append(f"exercise {label} does not show its label")
    if not exercises.count():
        problems.append("a chapter with no exercises")
    return problems


def test_toc_lists_pages():
    assert PAGES, "_toc.yml lists no pages"
    missing = [p for p in PAGES if source_of(p) is None]
    assert not missing, f"_toc.yml names pages with no source file: {missing}"


@pytest.mark.parametrize("name", PAGES)
def test_page(name, book_html, context, screenshots):
    html = book_html / f"{name}.html"
    assert html.is_file(), f"{name} is in _toc.yml but {html} was not built"
    page, log = pagecheck.open_offline(context, html.as_uri())

    problems = []
    mjx, found = pagecheck.check_math(page)
    problems += found
    problems += pagecheck.check_wide_math(page)
    n_tables, found = pagecheck.check_tables(page)
    problems += found
    n_images, found = pagecheck.check_images(page)
    problems += found
    n_sliders, found = pagecheck.check_sliders(page)
    problems += found
    n_widgets, found = pagecheck.check_widgets(page)
    problems += found
    problems += check_exercises(page, name)
    if source_of(name).suffix == ".ipynb":
        for service, prefix in launch_urls().items():
            if not page.locator(f'a[href^="{prefix}/"]').count():
                problems.append(f"no {service} launch button (a link to {prefix}/...)")
    pagecheck.screenshot(page, screenshots / f"{name.replace('/', '__')}.png")
    problems += log.problems()
    print(f"{name}: {mjx} typeset formulas, {n_tables} tables, {n_images} images, {n_sliders} sliders, "
          f"{n_widgets} widgets")
    assert not problems, f"{name}.html:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("name", PAGES)
def test_page_on_a_phone(name, book_html, browser, screenshots):
    """At 390 px: maths typeset and not clipped, the page no wider than the screen, figures at a readable scale
    (a wide one scrolls in its own box), the chapter list opens."""
    context = pagecheck.new_offline_context(browser, "phone")
    try:
        page, log = pagecheck.open_offline(context, (book_html / f"{name}.html").as_uri())
        problems = pagecheck.check_math(page)[1] + pagecheck.check_wide_math(page) + pagecheck.check_page_width(page)
        problems += pagecheck.check_figure_scale(page)
        pagecheck.screenshot(page, screenshots / "phone" / f"{name.replace('/', '__')}.png")
        problems += pagecheck.open_chapter_list(page)
        problems += log.problems()
    finally:
        context.close()
    assert not problems, f"{name}.html at 390 px:\n  " + "\n  ".join(problems)
