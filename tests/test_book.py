"""The book as a whole: chapters agree with the library's version, the instructor page lists every exercise, and the
student edition removes every solution and keeps every exercise."""

import importlib
import re
import sys
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


def test_every_figure_is_numbered_captioned_and_referred_to():
    """Every matplotlib figure of the chapters is a numbered figure (myst-nb's cell metadata mystnb.figure) with a
    caption, and the chapter's text refers to it by number ({numref}). A cell with several display outputs (two
    figures, or a figure and a printed value) cannot be one figure: myst-nb would give each output the same name."""
    names = []
    for path in CHAPTERS:
        chapter = int(path.name[:2])
        text = markdown(path)
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            shown = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
            figure = cell.metadata.get("mystnb", {}).get("figure")
            if not figure and not any("image/png" in o.get("data", {}) for o in shown):
                continue
            where = f"{path.name}, cell {cell.get('id')}"
            assert len(shown) <= 1, f"{where}: {len(shown)} outputs would share one figure name; split the cell"
            assert figure, f"{where}: a figure without mystnb.figure metadata (name and caption)"
            name, caption = figure.get("name", ""), figure.get("caption", "")
            assert name.startswith(f"fig-{chapter}-"), f"{where}: figure name {name!r} should start fig-{chapter}-"
            assert len(caption.strip()) >= 40, f"{where}: the caption of {name} should say what the figure shows"
            assert re.search(rf"\{{numref\}}`(?:{re.escape(name)}|[^`<]*<{re.escape(name)}>)`", text), \
                f"{path.name}: the text never refers to {name} by number ({{numref}}`{name}`)"
            names.append(name)
    assert names, "no figure found"
    assert len(names) == len(set(names)), f"figure names repeat: {sorted(n for n in names if names.count(n) > 1)}"


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


def test_the_instructor_page_lists_every_exercise_once_with_its_number_link_kind_and_checker():
    page = (ROOT / "book" / "instructors.md").read_text()
    rows = re.findall(r"^\| (\d+\.\d+) \| \{ref\}`(ex-\S+) <(ex-\S+)>` \| ([^|]+) \|.*\| (✓|—) \|$", page, re.M)
    book = {e.label: e for e in load_module("book_exercises").read_exercises()}
    assert [label for _, label, _, _, _ in rows] == list(book), "every exercise once, in book order"
    for number, label, target, kind, _ in rows:
        assert number == book[label].number and target == label, label
        assert set(kind.strip().split(" + ")) <= {"derivation", "code", "experiment", "explanation"}, kind
        assert kind.strip().split(" + ")[0] in page.split("## Assigning")[0], f"the kind {kind!r} is not defined"
    assert {label for _, label, _, _, mark in rows if mark == "✓"} == set(vl.exercises.CHECKERS)


def test_every_checkable_exercise_tells_the_reader_how_to_check_it():
    for path in CHAPTERS:
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        for label in exercises(path):
            if label in vl.exercises.CHECKERS:
                assert f'vl.exercises.check("{label}"' in text, label


def load_module(name):
    """A module of scripts/ (student_edition, book_exercises), imported from its file."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module(name)


def load_script():
    return load_module("student_edition")


def test_student_edition_removes_solutions_keeps_exercises_and_gives_every_exercise_an_answer_cell(tmp_path):
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
        assert [re.search(r"exercise (\S+?)(:|\*\*)", cell.source).group(1) for cell in answers] == exercises(path)
        for cell in answers:
            label = re.search(r"exercise (\S+?)(:|\*\*)", cell.source).group(1)
            if label in vl.exercises.CHECKERS:
                assert cell.cell_type == "code" and "✏️ YOUR ANSWER" in cell.source
                assert "raise NotImplementedError" in cell.source
            else:
                assert cell.cell_type == "markdown" and "✏️ **Your answer" in cell.source
        original = nbformat.read(path, as_version=4)
        assert [c.source for c in nb.cells if c.cell_type == "code" and c not in answers] == \
            [c.source for c in original.cells if c.cell_type == "code"], "every code cell kept"


def test_the_student_edition_is_closed_and_says_what_to_install(tmp_path):
    """No link to the instructor page, no passage written for instructors, no solution text anywhere; the pinned
    install command of this book's vaelab; launch buttons that open the edition, not the book."""
    script = load_script()
    out = tmp_path / "student"
    written = script.make(out, repository="https://github.com/course/vae-student", branch="fall", hub="https://hub.x.edu")
    for page in written:
        text = page.read_text()
        assert "instructors" not in text and "folded away" not in text and "<!-- full edition" not in text, page
    intro = (out / "book" / "intro.md").read_text()
    assert vl._version.install_command() in intro and "student edition" in intro
    config = (out / "_config.yml").read_text()
    assert "url: https://github.com/course/vae-student" in config and "branch: fall" in config
    assert 'jupyterhub_url: "https://hub.x.edu"' in config and 'execute_notebooks: "off"' in config
    assert script.leaks(out) == []
    assert len(script.leaks(ROOT / "book")) >= len(CHAPTERS), "the check finds the solutions of the full book"


def test_the_solution_check_finds_a_solution_in_a_notebook_and_in_html(tmp_path):
    script = load_script()
    out = tmp_path / "student"
    script.make(out)
    solution = next(e for e in load_module("book_exercises").read_exercises() if e.label == "ex-3-init").solution
    chapter = out / "book" / "01-vae.ipynb"
    nb = nbformat.read(chapter, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A student's notes:\n\n" + solution))
    nbformat.write(nb, chapter)
    (out / "_build").mkdir()
    sentence = " ".join(solution.split()[:40])
    (out / "_build" / "page.html").write_text(f"<p>{sentence.replace(' ', ' <em>x</em> ', 1)}</p>")
    found = script.leaks(out)
    # both places are found; another solution that shares a run of words with this one may be named beside it
    assert {"_build/page.html: ex-3-init", "book/01-vae.ipynb: ex-3-init"} <= set(found)
    assert {f.split(": ")[0] for f in found} == {"_build/page.html", "book/01-vae.ipynb"}


def test_the_hub_link_pulls_the_edition_and_opens_the_chapter():
    link = load_script().nbgitpuller_link("https://hub.x.edu/", "https://github.com/course/vae-student.git", "fall",
                                          "book/01-vae.ipynb")
    assert link == ("https://hub.x.edu/hub/user-redirect/git-pull?repo=https%3A//github.com/course/vae-student.git"
                    "&urlpath=lab/tree/vae-student/book/01-vae.ipynb&branch=fall")


def test_exercises_and_figures_are_numbered_per_chapter_by_the_books_extension():
    sys.path.insert(0, str(ROOT / "_ext"))
    import vaelab_exercises

    class Env:
        toc_fignumbers = {"book/02-over-regularization": {"exercise": {"a": (6,), "b": (7,)}, "figure": {"f": (3,)}},
                          "book/intro": {"exercise": {"c": (1,)}}}

    vaelab_exercises.number_per_chapter(None, Env)
    assert Env.toc_fignumbers["book/02-over-regularization"] == {"exercise": {"a": (2, 1), "b": (2, 2)},
                                                                 "figure": {"f": (2, 1)}}
    assert Env.toc_fignumbers["book/intro"] == {"exercise": {"c": (1,)}}
    numbers = [e.number for e in load_module("book_exercises").read_exercises() if e.chapter == 2]
    assert numbers == [f"2.{i}" for i in range(1, len(numbers) + 1)]


def test_strip_solutions_handles_both_fence_lengths():
    strip = load_script().strip_solutions
    text = "before\n\n```{solution} a\nx\n```\n\nmiddle\n\n````{solution} b\n```python\ny\n```\n````\nafter"
    assert strip(text) == "before\n\nmiddle\n\nafter"
