"""The course in a box, end to end with the real nbgrader: an assignment made from the book, two sample submissions
graded (a correct one with full marks, a wrong one with partial marks and the checker's diagnosis in its feedback),
and nothing of the answers in what students receive.  Run by `make course-test` (CI)."""

from __future__ import annotations

import csv
import html
import re
import sys
from pathlib import Path

import nbformat
import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "scripts")]

import assign  # noqa: E402
from bank import ANSWERS, HIDDEN, POINTS, WRONG  # noqa: E402
from book_exercises import read_exercises  # noqa: E402
from feedback import PLACEHOLDER as HIDDEN_PLACEHOLDER  # noqa: E402

from vaelab.exercises import CHECKERS  # noqa: E402

GRADED = ["ex-1-kl", "ex-1-elbo-code", "ex-2-units", "ex-5-bias", "ex-7-gamma-star"]
PLACEHOLDER = re.compile(r"( *)# YOUR CODE HERE\n *raise NotImplementedError\(\)")


def fill(release: Path, answers: dict[str, str], target: Path) -> None:
    """A student's submission: the released notebook with these function bodies typed into the answer cells."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        label = grade_id.removesuffix("-answer")
        if grade_id.endswith("-answer") and label in answers:
            indent = PLACEHOLDER.search(cell.source).group(1)
            body = "\n".join(indent + line for line in answers[label].splitlines())
            cell.source = PLACEHOLDER.sub(lambda _, body=body: body, cell.source)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    release = assign.make("hw1", course, assign.select(labels=GRADED))
    fill(release, ANSWERS, course / "submitted" / "alice" / "hw1" / "hw1.ipynb")
    fill(release, {**ANSWERS, **WRONG}, course / "submitted" / "bob" / "hw1" / "hw1.ipynb")
    assign.nbgrader(course, "autograde", "hw1", "--create")
    assign.nbgrader(course, "generate_feedback", "hw1")
    assign.nbgrader(course, "export")
    with open(course / "grades.csv") as f:
        scores = {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(f)}
    return course, release, scores


def test_the_correct_submission_scores_full_marks(graded):
    _, _, scores = graded
    score, maximum = scores["alice"]
    assert maximum == len(GRADED) * (POINTS["public"] + POINTS["hidden"])
    assert score == maximum


def test_the_wrong_submission_scores_partial_marks_with_the_diagnosis_in_its_feedback(graded):
    course, _, scores = graded
    score, maximum = scores["bob"]
    # three answers fail the public check and its hidden tests; the detached z of ex-1-elbo-code passes the public
    # check (its values are right) and fails only the hidden gradient test; ex-5-bias is right
    expected = maximum - 3 * (POINTS["public"] + POINTS["hidden"]) - POINTS["hidden"]
    assert score == expected, (score, expected)
    feedback = html.unescape((course / "feedback" / "bob" / "hw1" / "hw1.html").read_text())
    for diagnosis in ["a constant term is missing or extra",          # ex-1-kl without its −½
                      "You summed over the examples",                   # ex-2-units
                      "do not take the square root",                    # ex-7-gamma-star
                      "the encoder's gradient is wrong"]:               # the hidden test of ex-1-elbo-code
        assert diagnosis in feedback, diagnosis
    # the hidden tests' verdicts, not their code (nor a traceback quoting it)
    assert feedback.count(HIDDEN_PLACEHOLDER) == len(GRADED) and "BEGIN HIDDEN TESTS" not in feedback
    for label in GRADED:
        for line in HIDDEN[label].splitlines():
            if len(line.strip()) > 30 and '"' not in line:
                assert line.strip() not in feedback, (label, line)


def test_the_students_notebook_holds_no_answer_and_no_hidden_test(graded):
    _, release, _ = graded
    text = release.read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    for label in GRADED:
        for line in (ANSWERS[label] + "\n" + HIDDEN[label]).splitlines():
            if len(line.strip()) > 12:
                assert line.strip() not in text, (label, line)
    nb = nbformat.read(release, as_version=4)
    assert sum("YOUR CODE HERE" in cell.source for cell in nb.cells) == len(GRADED)


def test_every_exercise_of_the_book_makes_an_assignment_cell(tmp_path):
    """By chapter, every exercise gets an answer cell: code with the checker's tests where the book checks it, a
    Markdown answer graded by hand (the book's worked solution in the instructor's notebook) otherwise."""
    book = read_exercises()
    assert set(ANSWERS) == set(HIDDEN) == set(CHECKERS)
    source = assign.make("all", tmp_path, assign.select(chapters=sorted({e.chapter for e in book})), generate=False)
    cells = nbformat.read(source, as_version=4).cells
    ids = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in cells}
    for exercise in book:
        if exercise.label in CHECKERS:
            assert {f"{exercise.label}-answer", f"{exercise.label}-check", f"{exercise.label}-hidden"} <= set(ids)
        else:
            written = ids[f"{exercise.label}-written"]
            assert written.cell_type == "markdown" and written.metadata["nbgrader"]["points"] == POINTS["written"]
            assert "{cite}" not in written.source and "```{" not in written.source


def test_bad_choices_are_refused_with_the_way_out():
    with pytest.raises(SystemExit, match="no exercise labelled ex-9-nothing"):
        assign.select(labels=["ex-9-nothing"])
    with pytest.raises(SystemExit, match="no chapter 12"):
        assign.select(chapters=[12])
    with pytest.raises(SystemExit, match="--labels"):
        assign.select()
