"""Make the student edition of the book: the chapters with every solution removed and the code to complete marked.

    python scripts/student_edition.py              # notebooks and pages in _student/ (make student)
    python scripts/student_edition.py --html       # ... and its HTML book in _student/_build/html (make student-book)
    python scripts/student_edition.py --check      # ... and check that no solution text survives anywhere in it

For every chapter notebook it

- deletes each ``{solution}`` block (the exercises stay, with their labels, so they can be assigned by label);
- after each exercise that has a checker in ``vaelab.exercises``, inserts a code cell marked ``# ✏️ YOUR ANSWER``
  with the function to complete and the ``vl.exercises.check(...)`` call that says what is right or wrong, and
  after every other exercise a Markdown cell marked ✏️ for the derivation, measurements or explanation;
- keeps every other cell, with its outputs, so that the chapter reads the same.

Pages written for both editions mark their passages ``<!-- full edition -->`` … ``<!-- student edition: … -->``;
the student edition keeps the second (with ``{install}`` replaced by the pip command for this book's vaelab).  The
instructor page (book/instructors.md) is left out, and so is every link to it.  The edition's launch buttons open
*its* notebooks: ``--repository`` and ``--branch`` say where the edition is pushed (default: the book's repository,
branch ``student``), ``--hub`` adds a JupyterHub button that pulls it there with nbgitpuller (``nbgitpuller_link``
prints the same link for an LMS or an e-mail).  The HTML is built from the notebooks' stored outputs (nothing is
executed: the chapters are the book's, already run).
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_exercises import EXERCISE, SOLUTION, read_exercises, strip_solutions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # vaelab from this checkout when it is not installed
INSTRUCTOR_PAGES = {"book/instructors.md"}
# what the book needs besides its pages: configuration, the Sphinx extension, vendored front-end assets if present,
# the figures' matplotlib settings
SUPPORT = ["_config.yml", "_ext", "_vendor", "book/references.bib", "book/images", "book/matplotlibrc"]
MARK = "# ✏️ YOUR ANSWER to exercise {label}: complete the function, then run the cell to check it.\n"
WRITTEN = ("✏️ **Your answer to exercise {label}** (double-click to edit; maths as `$...$`; for an experiment, the "
           "code in a cell below and what you measured here):\n\n")
EDITIONS = re.compile(r"<!-- full edition -->\n(?P<full>.*?)<!-- student edition:\n(?P<student>.*?)\n-->\n", re.S)
DEFAULT_BRANCH = "student"

__all__ = ["EXERCISE", "SOLUTION", "strip_solutions", "make", "nbgitpuller_link", "leaks"]


def student_text(text: str, install: str) -> str:
    """A page's Markdown for the student edition: no solutions, the student passages, no link to instructor pages."""
    text = EDITIONS.sub(lambda m: m.group("student").replace("{install}", install) + "\n", strip_solutions(text))
    for page in INSTRUCTOR_PAGES:
        name = Path(page).name
        if name in text:
            raise ValueError(f"a page of the student edition links to {name}, which it leaves out: put the passage "
                             "between <!-- full edition --> and <!-- student edition: ... --> markers")
    return text


def student_cells(cell, templates: dict[str, str], install: str) -> list:
    """A Markdown cell without its solutions, split after each checkable exercise with the answer cell inserted."""
    text = student_text(cell.source, install)
    out, start = [], 0
    for match in EXERCISE.finditer(text):
        label = match.group("label")
        out.append(nbformat.v4.new_markdown_cell(text[start:match.end()].rstrip("\n")))
        if label in templates:
            answer = nbformat.v4.new_code_cell(MARK.format(label=label) + templates[label])
        else:  # a derivation, an experiment or an explanation: room for it, in Markdown (maths as $...$)
            answer = nbformat.v4.new_markdown_cell(WRITTEN.format(label=label))
        answer.metadata["tags"] = ["student-answer"]
        out.append(answer)
        start = match.end()
    rest = text[start:].strip("\n")
    if rest or not out:
        out.append(nbformat.v4.new_markdown_cell(rest))
    return out


def student_notebook(path: Path, templates: dict[str, str], install: str):
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        cells += student_cells(cell, templates, install) if cell.cell_type == "markdown" else [cell]
    nb.cells = cells
    for i, cell in enumerate(nb.cells):  # fresh ids: the cells split from one would otherwise share one
        cell["id"] = f"cell-{i}"
    return nb


def _set(config: str, key: str, value: str) -> str:
    """Replace the value of the first ``key:`` line of a YAML text (keeping its indentation and comment)."""
    pattern = re.compile(rf"^(?P<indent>\s*){re.escape(key)}:[^\n#]*(?P<comment>#[^\n]*)?$", re.M)
    if not pattern.search(config):
        raise ValueError(f"_config.yml has no {key!r} setting")
    return pattern.sub(lambda m: f"{m.group('indent')}{key}: {value}" + (f"   {m.group('comment')}"
                                                                          if m.group("comment") else ""),
                       config, count=1)


def student_config(config: str, repository: str, branch: str, hub: str) -> str:
    """The book's _config.yml for the edition: its title, its repository and branch (the launch buttons open the
    edition's notebooks), its hub, and the stored outputs instead of executing the chapters again."""
    title = re.search(r'^title: "?(?P<title>[^"\n]*)"?$', config, re.M).group("title")
    config = _set(config, "title", f'"{title} (student edition)"')
    config = _set(config, "url", repository)
    config = _set(config, "branch", branch)
    config = _set(config, "jupyterhub_url", f'"{hub}"')
    return _set(config, "execute_notebooks", "\"off\"")


def nbgitpuller_link(hub: str, repository: str, branch: str, page: str, interface: str = "lab") -> str:
    """The JupyterHub link that pulls the edition into a student's home and opens ``page`` in JupyterLab."""
    folder = repository.rstrip("/").split("/")[-1].removesuffix(".git")
    query = urlencode({"repo": repository, "urlpath": f"{interface}/tree/{folder}/{page}", "branch": branch},
                      quote_via=quote, safe="/")
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def make(out: Path, repository: str | None = None, branch: str = DEFAULT_BRANCH, hub: str | None = None) -> list[Path]:
    from vaelab._version import REPOSITORY, install_command
    from vaelab.exercises import TEMPLATES

    config = (ROOT / "_config.yml").read_text()
    if hub is None:
        hub = re.search(r'^\s*jupyterhub_url: "?(?P<hub>[^"\s]*)"?', config, re.M).group("hub")
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    for item in SUPPORT:
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, out / item)
        elif source.exists():
            shutil.copy2(source, out / item)
    (out / "_config.yml").write_text(student_config(config, repository or REPOSITORY, branch, hub))
    toc = (ROOT / "_toc.yml").read_text()
    for page in INSTRUCTOR_PAGES:
        toc = "\n".join(line for line in toc.splitlines() if line.strip() != f"- file: {page}") + "\n"
    (out / "_toc.yml").write_text(toc)
    install = install_command()
    written = []
    for page in re.findall(r"(?:root|file): (\S+)", toc):
        source, target = ROOT / page, out / page
        if source.suffix == ".ipynb":
            nbformat.write(student_notebook(source, TEMPLATES, install), target)
        else:
            target.write_text(student_text(source.read_text(), install))
        written.append(target)
    return written


# ------------------------------------------------------------------------------ nothing of the answers left behind
MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\\?\([^\n]*?\\\\?\)|\\\\?\[.*?\\\\?\]|\\+[A-Za-z]+", re.S)


def _words(text: str) -> str:
    """The prose of a text, lower-case words only (maths and markup dropped), for comparing Markdown, notebooks and
    HTML alike."""
    text = MATH.sub(" ", html.unescape(re.sub(r"<[A-Za-z/!][^<>]*>", " ", text)))
    return " ".join(re.findall(r"[a-z]+", text.lower()))


def _notebook_parts(nb) -> list[str]:
    """A notebook's cells and their outputs as texts (not its JSON, whose escaped newlines would join words)."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [value for key, value in output.get("data", {}).items()
                      if key.startswith("text/") and isinstance(value, str)]
    return parts


def _prose(parts: list[str]) -> str:
    """The words of each part, parts kept apart by " ~ " so that no run of words spans two cells."""
    return " ~ ".join(_words(part) for part in parts)


def fingerprints(root: Path = ROOT, length: int = 7) -> dict[str, list[str]]:
    """For each worked solution, its runs of ``length`` words that appear nowhere else in the book (the pages with
    every solution removed): text that can only have come from a solution."""
    from vaelab.exercises import TEMPLATES

    pages = [root / p for p in re.findall(r"(?:root|file): (\S+)", (root / "_toc.yml").read_text())]
    rest = list(TEMPLATES.values())
    for page in pages:  # everything else the edition may show: pages, code, outputs, answer cells
        if page.suffix == ".ipynb":
            nb = nbformat.read(page, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = strip_solutions(cell.source)
            rest += _notebook_parts(nb)
        else:
            rest.append(strip_solutions(page.read_text()))
    elsewhere = _prose(rest)
    out = {}
    for exercise in read_exercises(root):
        words = _words(exercise.solution).split()
        runs = {" ".join(words[i:i + length]) for i in range(len(words) - length + 1)}
        out[exercise.label] = sorted(run for run in runs if run not in elsewhere)
    return out


def leaks(folder: Path, root: Path = ROOT) -> list[str]:
    """Every place in ``folder`` (notebooks, pages, HTML, the search index, …) that holds a solution's text or a
    solution block: ``"file: label"`` or ``"file: {solution} block"``.  Empty means the edition is closed."""
    prints = fingerprints(root)
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in {".ipynb", ".md", ".html", ".js", ".json", ".txt", ".yml"}:
            continue
        if "_static" in path.parts or "_vendor" in path.parts:
            continue  # third-party assets, copied as they are
        raw = path.read_text(errors="replace")
        name = str(path.relative_to(folder))
        if path.suffix != ".yml" and ("{solution}" in raw or 'class="solution' in raw or "Solution to Exercise" in raw):
            found.append(f"{name}: {{solution}} block")
        text = _prose(_notebook_parts(nbformat.reads(raw, as_version=4)) if path.suffix == ".ipynb" else [raw])
        found += [f"{name}: {label}" for label, runs in prints.items() if any(run in text for run in runs)]
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_student", help="output folder (replaced)")
    parser.add_argument("--html", action="store_true", help="also build its HTML book (from the stored outputs)")
    parser.add_argument("--check", action="store_true", help="build the HTML and fail if any solution text is left")
    parser.add_argument("--repository", help="where the edition is pushed (default: the book's repository)")
    parser.add_argument("--branch", default=DEFAULT_BRANCH, help=f"its branch (default: {DEFAULT_BRANCH})")
    parser.add_argument("--hub", help="a JupyterHub URL for the launch button (default: _config.yml's)")
    args = parser.parse_args()
    written = make(args.out, args.repository, args.branch, args.hub)
    print(f"student edition: {len(written)} pages in {args.out}")
    if args.html or args.check:
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        subprocess.run([str(jupyter_book), "build", str(args.out), "-W", "-n", "--keep-going"], check=True)
        print(f"HTML: {args.out / '_build' / 'html' / 'index.html'}")
    if args.check:
        found = leaks(args.out)
        if found:
            sys.exit("error: solution text in the student edition:\n  " + "\n  ".join(found))
        print(f"no solution text in {args.out} (notebooks, pages, HTML, search index)")


if __name__ == "__main__":
    main()
