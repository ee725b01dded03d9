"""The book's exercises and their solutions, read from the chapters: one parser for every script that needs them.

    from book_exercises import read_exercises
    for exercise in read_exercises():           # in book order
        exercise.label, exercise.number, exercise.title, exercise.text, exercise.solution

``number`` is the exercise's number within its chapter ("2.1" is chapter 2's first), as the book's pages show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FENCE = r"(?P<fence>`{3,4}|:{3,4})"
# a directive block: its opening fence, its name and argument, its options, its body, the same closing fence
SOLUTION = re.compile(FENCE + r"\{solution\}[ \t]*(?P<target>\S*)[^\n]*\n(?P<body>.*?)\n(?P=fence)[ \t]*(\n|$)", re.S)
EXERCISE = re.compile(FENCE + r"\{exercise\}[ \t]*(?P<title>[^\n]*)\n:label: (?P<label>\S+)\n(?P<body>.*?)\n"
                      r"(?P=fence)[ \t]*(\n|$)", re.S)
OPTION = re.compile(r"^:[\w-]+:[^\n]*\n", re.M)


@dataclass(frozen=True)
class Exercise:
    label: str       # e.g. "ex-2-units": stable, how instructors assign it
    chapter: int
    number: str      # "2.3": the third exercise of chapter 2
    title: str
    text: str        # the exercise's Markdown (MyST maths and roles as in the book)
    solution: str    # the worked solution's Markdown ("" if the book has none)
    page: str        # the chapter's file, relative to the repository root


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks named in _toc.yml, in book order."""
    toc = (root / "_toc.yml").read_text()
    return [root / page for page in re.findall(r"file: (\S+\.ipynb)", toc)]


def read_exercises(root: Path = ROOT) -> list[Exercise]:
    out = []
    for path in chapters(root):
        chapter = int(path.name[:2])
        text = "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        solutions = {m.group("target"): OPTION.sub("", m.group("body")).strip() for m in SOLUTION.finditer(text)}
        for i, match in enumerate(EXERCISE.finditer(text), start=1):
            label = match.group("label")
            out.append(Exercise(label, chapter, f"{chapter}.{i}", match.group("title").strip(),
                                OPTION.sub("", match.group("body")).strip(), solutions.get(label, ""),
                                str(path.relative_to(root))))
    return out


def strip_solutions(text: str) -> str:
    """Remove every {solution} directive block from a Markdown text."""
    return re.sub(r"\n{3,}", "\n\n", SOLUTION.sub("", text))
