"""Make the student edition of the book: the chapters with every solution removed and the code to complete marked.

    python scripts/student_edition.py                 # notebooks and pages in _student/ (make student)
    python scripts/student_edition.py --html   # ... and the HTML book in _student/_build/html (make student-book)

For every chapter notebook it

- deletes each ``{solution}`` block (the exercises stay, with their labels, so they can be assigned by label);
- after each exercise that has a checker in ``vaelab.exercises``, inserts a code cell marked ``# ✏️ YOUR ANSWER``
  with the function to complete and the ``vl.exercises.check(...)`` call that grades it;
- keeps every other cell, with its outputs, so that the chapter reads the same.

The instructor page (book/instructors.md) is left out of the student edition and of its table of contents.  The
folder it writes is self-contained: push it to a course hub, or build it with ``jupyter-book build``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR_PAGES = {"book/instructors.md"}
# what the book needs besides its pages: configuration, the Sphinx extension, vendored front-end assets if present
SUPPORT = ["_config.yml", "_ext", "_vendor", "book/references.bib", "book/images"]
FENCE = r"(?P<fence>`{3,4}|:{3,4})"
SOLUTION = re.compile(FENCE + r"\{solution\}[^\n]*\n.*?\n(?P=fence)[ \t]*(\n|$)", re.S)
EXERCISE = re.compile(FENCE + r"\{exercise\}[^\n]*\n:label: (?P<label>\S+)\n.*?\n(?P=fence)[ \t]*(\n|$)", re.S)
MARK = "# ✏️ YOUR ANSWER to exercise {label}: complete the function, then run the cell to check it.\n"


def strip_solutions(text: str) -> str:
    """Remove every {solution} directive block from a Markdown text."""
    return re.sub(r"\n{3,}", "\n\n", SOLUTION.sub("", text))


def student_cells(cell, templates: dict[str, str]) -> list:
    """A Markdown cell without its solutions, split after each checkable exercise with the answer cell inserted."""
    text = strip_solutions(cell.source)
    out, start = [], 0
    for match in EXERCISE.finditer(text):
        label = match.group("label")
        if label not in templates:
            continue
        out.append(nbformat.v4.new_markdown_cell(text[start:match.end()].rstrip("\n")))
        answer = nbformat.v4.new_code_cell(MARK.format(label=label) + templates[label])
        answer.metadata["tags"] = ["student-answer"]
        out.append(answer)
        start = match.end()
    rest = text[start:].strip("\n")
    if rest or not out:
        out.append(nbformat.v4.new_markdown_cell(rest))
    return out


def student_notebook(path: Path, templates: dict[str, str]):
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        cells += student_cells(cell, templates) if cell.cell_type == "markdown" else [cell]
    nb.cells = cells
    for i, cell in enumerate(nb.cells):  # fresh ids: the cells split from one would otherwise share one
        cell["id"] = f"cell-{i}"
    return nb


def make(out: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from vaelab.exercises import TEMPLATES

    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    for item in SUPPORT:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, out / item)
        elif source.exists():
            shutil.copy2(source, out / item)
    toc = (ROOT / "_toc.yml").read_text()
    for page in INSTRUCTOR_PAGES:
        toc = "\n".join(line for line in toc.splitlines() if line.strip() != f"- file: {page}") + "\n"
    (out / "_toc.yml").write_text(toc)
    written = []
    for page in re.findall(r"(?:root|file): (\S+)", toc):
        source, target = ROOT / page, out / page
        if source.suffix == ".ipynb":
            nbformat.write(student_notebook(source, TEMPLATES), target)
        else:
            target.write_text(strip_solutions(source.read_text()))
        written.append(target)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_student", help="output folder (replaced)")
    parser.add_argument("--html", action="store_true", help="also build the HTML book there (executes every chapter)")
    args = parser.parse_args()
    written = make(args.out)
    print(f"student edition: {len(written)} pages in {args.out}")
    if args.html:
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        subprocess.run([str(jupyter_book), "build", str(args.out), "--keep-going"], check=True)
        print(f"HTML: {args.out / '_build' / 'html' / 'index.html'}")


if __name__ == "__main__":
    main()
