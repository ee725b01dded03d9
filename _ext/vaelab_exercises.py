"""Sphinx extension of the vaelab book: exercises, figures and tables numbered per chapter; exercises show labels.

Sphinx numbers exercises, figures and tables through the whole book (chapter 2's first exercise is "Exercise 6",
chapter 8's map "Fig. 21"), because the table of contents is not numbered (the chapters number their own sections).
This extension renumbers them per chapter, "Exercise 2.1", "Fig. 8.2", "Table 8.1" (the solutions and every
{numref} follow), taking the chapter from the page's file name (``book/02-over-regularization`` is chapter 2), and
prints each exercise's label under it ("Label: ex-2-units"), the name instructors assign it by (book/instructors.md
links every label to its exercise).
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx
from sphinx_exercise.nodes import exercise_enumerable_node

CHAPTER_PAGE = re.compile(r"(?:^|/)(?P<chapter>\d+)-[^/]+$")


def chapter_of(docname: str) -> int | None:
    """The chapter number of a page from its name ("book/02-over-regularization" -> 2), None for other pages."""
    match = CHAPTER_PAGE.search(docname)
    return int(match.group("chapter")) if match else None


def number_per_chapter(app: Sphinx, env) -> list[str]:
    """After Sphinx numbered the figures (env-get-updated), number each chapter's exercises, figures, tables and
    code listings within the chapter: (chapter, i), shown as "Exercise 2.1", "Fig. 2.1", "Table 8.1"."""
    for docname, numbers in env.toc_fignumbers.items():
        chapter = chapter_of(docname)
        if chapter is None:
            continue
        for numbered in numbers.values():  # one dict per kind: exercise, figure, table, code-block
            for i, key in enumerate(sorted(numbered, key=numbered.get), start=1):
                numbered[key] = (chapter, i)
    return []


def show_labels(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """A line "Label: ex-..." at the end of every exercise."""
    for node in doctree.findall(exercise_enumerable_node):
        label = node.get("label")
        if label:
            line = nodes.paragraph("", "", nodes.Text("Label: "), nodes.literal(label, label),
                                   classes=["exercise-label"])
            node += line


def setup(app: Sphinx) -> dict:
    app.connect("env-get-updated", number_per_chapter, priority=900)  # after the TocTreeCollector's numbering
    app.connect("doctree-resolved", show_labels)
    app.add_css_file("vaelab-exercises.css")  # from _ext/static (html_static_path in _config.yml)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
