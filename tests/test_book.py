"""The book as a whole: chapters agree with the library's version, the instructor page lists every exercise, and the
student edition removes every solution and keeps every exercise."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

import vaelab as vl

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]-*.ipynb"))
EXERCISE = re.compile(r"`{3,4}\{exercise\}[^\n]*\n:label: (\S+)")


def exercises(path):
    nb = nbformat.read(path, as_version=4)
    return [label for cell in nb.cells if cell.cell_type == "markdown" for label in EXERCISE.findall(cell.source)]


TAG = re.compile(r"\\tag\{(\d+)\.(\d+)\}")
# "eq. 6.5", "eqs. 1.3, 2.1", "eqs. 4.1 and 4.4", or a bare "(5.4)": every equation number the code or the text cites
CITED = re.compile(r"\beqs?\.\s*\d+\.\d+(?:(?:,\s*|\s+and\s+)\d+\.\d+)*|\([1-9]\.[1-9]\d?\)")


def markdown(path):
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def cited_numbers(text):
    return {number for match in CITED.findall(text) for number in re.findall(r"\d+\.\d+", match)}


def test_each_chapter_numbers_its_equations_in_order():
    for path in CHAPTERS:
        chapter = int(path.name[:2])
        tags = [(int(n), int(m)) for n, m in TAG.findall(markdown(path))]
        assert tags == [(chapter, i) for i in range(1, len(tags) + 1)], f"{path.name}: equations numbered {tags}"


def test_every_equation_the_library_or_the_book_cites_exists():
    numbers = {f"{n}.{m}" for path in CHAPTERS for n, m in TAG.findall(markdown(path))}
    for source in sorted((ROOT / "vaelab").rglob("*.py")):
        missing = cited_numbers(source.read_text()) - numbers
        assert not missing, f"{source.relative_to(ROOT)} cites equations the book does not have: {sorted(missing)}"
    for path in CHAPTERS:
        missing = cited_numbers(markdown(path)) - numbers
        assert not missing, f"{path.name} cites equations the book does not have: {sorted(missing)}"


def test_the_citation_pattern_finds_what_it_should():
    assert cited_numbers("(chapter 1, eq. 1.8) and eqs. 1.3, 2.1 and 4.1 and 4.4; see (5.4), not (1.0)") == {
        "1.8", "1.3", "2.1", "4.1", "4.4", "5.4"}


def test_there_are_eight_chapters_each_with_three_to_six_exercises():
    assert len(CHAPTERS) == 8
    for path in CHAPTERS:
        assert 3 <= len(exercises(path)) <= 6, path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_each_chapter_checks_the_library_version_in_its_first_code_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code").source
    assert f'BOOK_VERSION = "{vl.__version__}"' in first, "update the chapter's BOOK_VERSION with the library version"
    assert f"@v{vl.__version__}" in first and "vl.require_version(BOOK_VERSION)" in first
    assert "google.colab" in first


def test_the_instructor_page_lists_every_exercise_once_with_its_checker():
    page = (ROOT / "book" / "instructors.md").read_text()
    rows = re.findall(r"^\| (ex-\S+) \| (\d) \|.*\| (✓|—) \|$", page, re.M)
    listed = [label for label, _, _ in rows]
    assert sorted(listed) == sorted(label for path in CHAPTERS for label in exercises(path))
    assert len(listed) == len(set(listed))
    assert {label for label, _, mark in rows if mark == "✓"} == set(vl.exercises.CHECKERS)


def test_every_checkable_exercise_tells_the_reader_how_to_check_it():
    for path in CHAPTERS:
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        for label in exercises(path):
            if label in vl.exercises.CHECKERS:
                assert f'vl.exercises.check("{label}"' in text, label


def load_script():
    spec = importlib.util.spec_from_file_location("student_edition", ROOT / "scripts" / "student_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_student_edition_removes_solutions_keeps_exercises_and_marks_answers(tmp_path):
    written = load_script().make(tmp_path / "student")
    toc = (tmp_path / "student" / "_toc.yml").read_text()
    assert "instructors" not in toc and not (tmp_path / "student" / "book" / "instructors.md").exists()
    assert (tmp_path / "student" / "book" / "intro.md").exists() and (tmp_path / "student" / "_config.yml").exists()
    for path in CHAPTERS:
        student = tmp_path / "student" / "book" / path.name
        assert student in written
        nb = nbformat.read(student, as_version=4)
        nbformat.validate(nb)
        text = "\n".join(cell.source for cell in nb.cells)
        assert "{solution}" not in text and ":class: dropdown" not in text
        assert exercises(student) == exercises(path)
        answers = [cell for cell in nb.cells if "student-answer" in cell.metadata.get("tags", [])]
        assert [re.search(r"exercise (\S+):", cell.source).group(1) for cell in answers] == \
            [label for label in exercises(path) if label in vl.exercises.CHECKERS]
        for cell in answers:
            assert "✏️ YOUR ANSWER" in cell.source and "raise NotImplementedError" in cell.source
        original = nbformat.read(path, as_version=4)
        assert [c.source for c in nb.cells if c.cell_type == "code" and c not in answers] == \
            [c.source for c in original.cells if c.cell_type == "code"], "every code cell kept"


def test_strip_solutions_handles_both_fence_lengths():
    strip = load_script().strip_solutions
    text = "before\n\n```{solution} a\nx\n```\n\nmiddle\n\n````{solution} b\n```python\ny\n```\n````\nafter"
    assert strip(text) == "before\n\nmiddle\n\nafter"
