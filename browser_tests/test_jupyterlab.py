"""The chapters as a student reads them in JupyterLab (`make browser-test`): MyST rendered, solutions folded.

The README sends students to JupyterLab, where the chapters' MyST (exercises, solutions, admonitions, roles, maths)
is rendered by the jupyterlab-myst extension (requirements.txt, the `book` extra, Binder). For every chapter in
_toc.yml this test starts one JupyterLab server on the checkout (no token, every cell rendered: windowing off),
opens the notebook in headless Chromium and requires:
- jupyterlab-myst installed, enabled and compatible with the installed JupyterLab (`jupyter labextension list`),
- every Markdown cell rendered by MyST, with no directive or role left as text (```{exercise}, {cite}`…`, :::),
  no raw TeX ($…$, $$) outside code, and maths typeset (KaTeX),
- as many exercises as the chapter has, and every worked solution folded (a closed <details>) under it,
- no unresolved reference except those jupyterlab-myst cannot resolve in a single notebook: citations (the
  bibliography is the book's, jupyter-book/jupyterlab-myst#127), figures made by code cells
  (jupyter-book/jupyterlab-myst#106) and targets in other chapters; each must still name a key of references.bib,
  a figure of the chapter or a target of another chapter (a misspelt label fails).
Screenshots of each chapter's top and first exercise go to _build/screenshots/jupyterlab/.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from pagecheck import RAW_TEX
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(ROOT / "scripts"))
from book_exercises import EXERCISE, SOLUTION, chapters  # noqa: E402  (the one parser of the book's exercises)

JUPYTER = Path(sys.executable).with_name("jupyter")
CHAPTERS = [path.name for path in chapters()]

# what the page shows in place of a reference it cannot resolve (myst-to-react's titles)
UNRESOLVED = {"Citation Not Found": "citation", "Cross Reference Not Found": "cross-reference"}

_PROBE = r"""rawTex => {
    const cells = Array.from(document.querySelectorAll(".jp-MarkdownCell"));
    // the rendered Markdown only: the cell's hidden editor holds the source
    const rendered = cells.map(c => c.querySelector(".myst")).filter(Boolean);
    const skip = "pre, code, .katex, script, style";
    const raw = [];
    const syntax = /```|:::|\{(exercise|solution|admonition|cite|numref|ref|doc|figure|math|eq)\}|^:(label|class):/m;
    const tex = new RegExp(rawTex);  // pagecheck.RAW_TEX
    for (const out of rendered) {
        const walker = document.createTreeWalker(out, NodeFilter.SHOW_TEXT, {acceptNode(node) {
            return node.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT; }});
        while (walker.nextNode()) {
            const text = walker.currentNode.nodeValue;
            if (syntax.test(text) || tex.test(text)) raw.push(text.trim().slice(0, 120));
        }
    }
    const solutions = Array.from(document.querySelectorAll(".jp-MarkdownCell .myst details")).filter(
        d => /^Solution/.test((d.querySelector("summary") || {}).innerText || ""));
    const unresolved = Array.from(document.querySelectorAll(".jp-MarkdownCell .myst [title]"))
        .filter(e => /Not Found|Error/i.test(e.title)).map(e => [e.title, e.textContent.trim()]);
    return {
        cells: cells.length,
        rendered: rendered.length,
        raw,
        katex: document.querySelectorAll(".jp-MarkdownCell .myst .katex").length,
        exercises: Array.from(document.querySelectorAll(".jp-MarkdownCell .myst aside.myst-exercise"))
            .map(e => e.innerText.split("\n")[0].trim()),
        solutions: solutions.length,
        open_solutions: solutions.filter(d => d.open).map(d => d.querySelector("summary").innerText),
        unresolved,
    };
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_myst_is_installed_and_compatible():
    listing = subprocess.run([str(JUPYTER), "labextension", "list"], capture_output=True, text=True, timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    assert re.search(r"jupyterlab-myst v\S+ enabled OK", text), (
        "jupyterlab-myst is not installed and enabled in this environment: without it JupyterLab shows the "
        f"chapters' MyST as raw text. Install requirements.txt (pip install -r requirements.txt).\n{text}")
    assert "is not compatible" not in text, (
        "a JupyterLab extension is not compatible with the installed JupyterLab (jupyterlab-myst needs "
        f"@jupyter/ydoc 3, that is JupyterLab < 4.6): keep requirements.txt's jupyterlab range.\n{text}")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on the checkout: no token, every cell rendered (no windowing), no news pop-up."""
    settings = tmp_path_factory.mktemp("lab-settings")
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = _free_port()
    log = (tmp_path_factory.mktemp("lab-log") / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}",
         f"--LabApp.user_settings_dir={settings}", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, JUPYTER_PREFER_ENV_PATH="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start (log: {log.name})", pytrace=False)
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


LABEL = re.compile(r"^:(?:label|name):\s*(\S+)|^\((\S+)\)=", re.M)  # MyST targets: directive options, (label)=


def _markdown(path: Path) -> str:
    return "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def _figures(path: Path) -> set[str]:
    """The names of the figures a chapter's code cells make (myst-nb's mystnb.figure metadata)."""
    cells = nbformat.read(path, as_version=4).cells
    names = {c.metadata.get("mystnb", {}).get("figure", {}).get("name") for c in cells if c.cell_type == "code"}
    return names - {None}


def _expected(path: Path) -> dict:
    markdown = _markdown(path)
    elsewhere = set()  # targets in the other chapters: one notebook in JupyterLab cannot resolve them
    for other in chapters():
        if other.name != path.name:
            elsewhere |= {a or b for a, b in LABEL.findall(_markdown(other))} | _figures(other)
    return {"markdown_cells": sum(c.cell_type == "markdown" for c in nbformat.read(path, as_version=4).cells),
            "exercises": [m.group("title").strip() for m in EXERCISE.finditer(markdown)],
            "solutions": len(SOLUTION.findall(markdown)),
            "targets": _figures(path) | elsewhere,
            "citations": set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M))}


def _plain(text: str) -> str:
    """MyST's typography undone: curly apostrophes and quotes as typed."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_reads_cleanly_in_jupyterlab(name, jupyterlab, browser, screenshots):
    expected = _expected(ROOT / "book" / name)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # a workspace of its own, reset: only this notebook open (JupyterLab restores the last one's tabs)
        page.goto(f"{jupyterlab}/lab/workspaces/browser-test/tree/book/{name}?reset", timeout=90_000)
        page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=90_000)
        try:
            page.wait_for_function(
                """n => document.querySelectorAll('.jp-MarkdownCell .myst').length >= n
                       && document.querySelectorAll('.jp-MarkdownCell .myst .katex').length > 0""",
                arg=expected["markdown_cells"], timeout=90_000)
        except PlaywrightTimeout:
            pytest.fail(f"{name}: JupyterLab did not render its {expected['markdown_cells']} Markdown cells with "
                        "MyST in 90 s (is jupyterlab-myst installed and enabled?)", pytrace=False)
        page.wait_for_timeout(1500)  # the last cells' MyST (cross-references resolve after a second pass)
        result = page.evaluate(_PROBE, RAW_TEX)
        out = screenshots / "jupyterlab"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / f"{Path(name).stem}-top.png"))
        page.evaluate("() => { const e = document.querySelector('.jp-MarkdownCell .myst aside.myst-exercise');"
                      " if (e) e.scrollIntoView(); }")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / f"{Path(name).stem}-exercise.png"))
    finally:
        page.close()

    problems = []
    if result["rendered"] != expected["markdown_cells"]:
        problems.append(f"{result['rendered']} of {expected['markdown_cells']} Markdown cells rendered")
    problems += [f"MyST or TeX left as text: {text!r}" for text in result["raw"]]
    if not result["katex"]:
        problems.append("no typeset maths (KaTeX) in the rendered cells")
    titles = [f"Exercise {i} ({title})" for i, title in enumerate(expected["exercises"], start=1)]
    if [_plain(t) for t in result["exercises"]] != titles:
        problems.append(f"exercises rendered {result['exercises']}, the chapter has {titles}")
    if result["solutions"] != expected["solutions"]:
        problems.append(f"{result['solutions']} folded solutions, the chapter has {expected['solutions']}")
    problems += [f"a solution is shown unfolded: {summary!r}" for summary in result["open_solutions"]]
    for title, target in result["unresolved"]:
        kind = UNRESOLVED.get(title)
        # a chapter's own bibliography cites with a prefix ("ch8-"): the key is the rest
        if kind == "citation" and re.sub(r"^ch\d+-", "", target) in expected["citations"]:
            continue  # jupyterlab-myst has no bibliography (jupyter-book/jupyterlab-myst#127)
        if kind == "cross-reference" and target in expected["targets"]:
            continue  # a code cell's figure (jupyter-book/jupyterlab-myst#106) or a target in another chapter
        problems.append(f"unresolved in JupyterLab: {title}: {target!r}")
    problems += [f"page error: {error}" for error in errors]
    assert not problems, f"{name} in JupyterLab:\n  " + "\n  ".join(problems)
