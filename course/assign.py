"""Make a graded assignment from the book's exercises, for nbgrader (https://nbgrader.readthedocs.io).

    python course/assign.py hw1 --labels ex-1-kl ex-2-units ex-2-lagrangian   # chosen exercises
    python course/assign.py week3 --chapters 3 4                                # every exercise of chapters 3, 4

writes an nbgrader course folder (default ``course/build``; ``--course DIR``):

- ``source/NAME/NAME.ipynb``: the instructor's notebook, with the reference answers and the hidden tests;
- ``release/NAME/NAME.ipynb``: the student's notebook, made from it by ``nbgrader generate_assignment``:
  a code answer cell per checkable exercise (the book's template), a Markdown answer cell per derivation,
  experiment or explanation, and locked test cells that run the book's public checker, whose feedback the student
  sees (``vl.exercises.check``); the hidden tests and the answers are not in it;
- ``nbgrader_config.py`` (course id ``vaelab``; edit it for your course).

Then, as usual with nbgrader: collect the submissions into ``submitted/STUDENT/NAME/``, and run
``nbgrader autograde NAME --create``, ``nbgrader generate_feedback NAME`` and ``nbgrader export`` in the folder.
Nothing is retrained: every test runs on small random inputs in a second or two. Derivations and experiments are
graded by hand (``nbgrader formgrader``) against the book's worked solution, which the source notebook shows.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "scripts"), str(HERE), str(ROOT)]

from bank import ANSWERS, HIDDEN, POINTS  # noqa: E402
from book_exercises import Exercise, read_exercises  # noqa: E402

from vaelab.exercises import TEMPLATES  # noqa: E402

SETUP = """import math

import torch
import torch.nn.functional as F

import vaelab as vl"""
CONFIG = """# nbgrader's settings for a vaelab course (written by course/assign.py; edit the course id)
import sys

sys.path.insert(0, {course!r})  # the book's course/ folder: feedback.py

from feedback import HideHiddenTests
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

c = get_config()
c.CourseDirectory.course_id = "vaelab"
c.CourseDirectory.root = "."
# feedback shows what the hidden tests found, not their code (nbgrader's default shows both)
c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
"""
ROLE = re.compile(r"\{(\w+)\}`([^`]*)`")


def plain_markdown(text: str) -> str:
    """MyST roles as plain Markdown that JupyterLab shows: {cite}`key` -> [key], {ref}`x` / {numref}`x` -> x."""
    return ROLE.sub(lambda m: f"[{m.group(2)}]" if m.group(1) == "cite" else m.group(2), text)


def _grader(cell, grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None):
    cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": grade_id, "grade": grade, "solution": solution,
                                 "locked": locked, "task": False}
    if points is not None:
        cell.metadata["nbgrader"]["points"] = points
    return cell


def answer_cell(label: str, answer: str):
    """The template's function with its body between nbgrader's solution markers."""
    template = TEMPLATES[label]
    head = template[:template.index("    raise NotImplementedError")]
    body = "\n".join("    " + line if line else line for line in answer.splitlines())
    return head + "    ### BEGIN SOLUTION\n" + body + "\n    ### END SOLUTION"


def public_test(label: str) -> str:
    """The template's check call, its verdict made the test's: the feedback is printed and is the error message."""
    call = TEMPLATES[label].splitlines()[-1]
    return (f"# the book's checker: fresh random inputs, what is right or wrong in words\n"
            f"feedback = {call}\nassert feedback, feedback.message")


def exercise_cells(exercise: Exercise) -> list:
    label = exercise.label
    heading = f"## Exercise {exercise.number}: {exercise.title}\n\n*Label `{label}`, from {exercise.page}.*\n\n"
    cells = [_grader(new_markdown_cell(heading + plain_markdown(exercise.text)), f"{label}-text",
                     grade=False, solution=False, locked=True)]
    if label in ANSWERS:
        cells.append(_grader(new_code_cell(answer_cell(label, ANSWERS[label])), f"{label}-answer",
                             grade=False, solution=True, locked=False))
        cells.append(_grader(new_code_cell(public_test(label)), f"{label}-check",
                             grade=True, solution=False, locked=True, points=POINTS["public"]))
        hidden = ("# more tests run when your work is graded\n### BEGIN HIDDEN TESTS\n" + HIDDEN[label]
                  + "### END HIDDEN TESTS")
        cells.append(_grader(new_code_cell(hidden), f"{label}-hidden", grade=True, solution=False, locked=True,
                             points=POINTS["hidden"]))
    else:
        written = ("**Your answer** (derivation, measurements or explanation; write maths as `$...$`"
                   + (", run the experiment in the chapter's notebook" if "experiment" in exercise.text.lower()
                      else "") + ").\n\n")
        solution = exercise.solution or "(The book gives no worked solution for this exercise.)"
        cells.append(_grader(new_markdown_cell(written + "### BEGIN SOLUTION\n" + plain_markdown(solution)
                                               + "\n### END SOLUTION"),
                             f"{label}-written", grade=True, solution=True, locked=False, points=POINTS["written"]))
    return cells


def assignment(name: str, exercises: list[Exercise]):
    nb = new_notebook()
    intro = (f"# {name}\n\nExercises from *vaelab: variational autoencoders, chapter by chapter*. Write your "
             "answers in the cells marked for them; run the test cell after each code answer to see what the book's "
             "checker says. Do not change the other cells.")
    nb.cells = [_grader(new_markdown_cell(intro), "intro", grade=False, solution=False, locked=True),
                _grader(new_code_cell(SETUP), "setup", grade=False, solution=False, locked=True)]
    for exercise in exercises:
        nb.cells += exercise_cells(exercise)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def select(labels: list[str] | None = None, chapters: list[int] | None = None) -> list[Exercise]:
    book = read_exercises()
    known = {e.label: e for e in book}
    unknown = [label for label in labels or [] if label not in known]
    if unknown:
        raise SystemExit(f"error: no exercise labelled {', '.join(unknown)}; the labels are in book/instructors.md "
                         f"(e.g. {', '.join(list(known)[:3])})")
    missing = sorted(set(chapters or []) - {e.chapter for e in book})
    if missing:
        raise SystemExit(f"error: no chapter {', '.join(map(str, missing))}; the book has chapters 1 to "
                         f"{max(e.chapter for e in book)}")
    chosen = [known[label] for label in labels or []]
    chosen += [e for e in book if e.chapter in (chapters or []) and e not in chosen]
    if not chosen:
        raise SystemExit("error: choose exercises with --labels LABEL... or --chapters N...")
    return chosen


def nbgrader(course: Path, *args: str) -> None:
    """Run the nbgrader of this Python in the course folder (its migration tool, alembic, must be on PATH)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, check=True)


def make(name: str, course: Path, exercises: list[Exercise], generate: bool = True) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise SystemExit(f"error: assignment name {name!r}: use letters, digits, '-' and '_' (nbgrader's folders)")
    source = course / "source" / name
    source.mkdir(parents=True, exist_ok=True)
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG.format(course=str(HERE)))
    nbformat.write(assignment(name, exercises), source / f"{name}.ipynb")
    if not generate:
        return source / f"{name}.ipynb"
    nbgrader(course, "generate_assignment", name, "--force")
    return course / "release" / name / f"{name}.ipynb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the assignment's name (its folder), e.g. hw1")
    parser.add_argument("--labels", nargs="+", metavar="LABEL", help="exercises by label, e.g. ex-1-kl")
    parser.add_argument("--chapters", nargs="+", type=int, metavar="N", help="every exercise of these chapters")
    parser.add_argument("--course", type=Path, default=HERE / "build", help="the nbgrader course folder")
    parser.add_argument("--no-generate", action="store_true", help="write the source notebook only")
    args = parser.parse_args(argv)
    exercises = select(args.labels, args.chapters)
    out = make(args.name, args.course, exercises, generate=not args.no_generate)
    print(f"{args.name}: {len(exercises)} exercises ({', '.join(e.label for e in exercises)}) -> {out}")


if __name__ == "__main__":
    main()
