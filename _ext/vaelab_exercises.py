"""Sphinx extension of the vaelab book: exercises numbered per chapter, each showing its label.

sphinx-exercise numbers exercises through the whole book (chapter 2's first is "Exercise 6"), because the table of
contents is not numbered (the chapters number their own sections).  This extension renumbers them per chapter,
"Exercise 2.1", "Exercise 2.2", ... (the solutions and every {numref} follow), taking the chapter from the page's
file name (``book/02-over-regularization`` is chapter 2), and prints each exercise's label under it ("Label:
ex-2-units"), the name instructors assign it by (book/instructors.md links every label to its exercise).
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
    """After Sphinx numbered the figures (env-get-updated), number each chapter's exercises (chapter, i)."""
    for docname, numbers in env.toc_fignumbers.items():
        chapter = chapter_of(docname)
        exercises = numbers.get("exercise")
        if chapter is None or not exercises:
            continue
        for i, key in enumerate(sorted(exercises, key=exercises.get), start=1):
            exercises[key] = (chapter, i)
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
