"""vaelab._version: require_version, which every chapter calls first, against the library's own version: it accepts
that version, warns on another patch release and names the problem and the fix otherwise."""

import pytest

import vaelab as vl


def test_require_version_names_the_problem_and_the_fix():
    assert vl.require_version(vl.__version__) == vl.__version__
    major, minor, patch = (int(p) for p in vl.__version__.split("."))
    with pytest.raises(RuntimeError, match=r'written for vaelab .* `pip install "vaelab @ git\+https://github.com/vaelab/vaelab@v'):
        vl.require_version(f"{major}.{minor + 1}.0")
    with pytest.warns(UserWarning, match="patch release"):
        vl.require_version(f"{major}.{minor}.{patch + 1}")
    with pytest.raises(ValueError, match="Not a version number"):
        vl.require_version("latest")


def test_every_chapter_installs_from_the_book_repository_at_its_version():
    """No package index serves vaelab: the chapters' install commands name the repository _config.yml names, at
    the book's version, and Colab gets vaelab and ipywidgets (not the whole book toolchain)."""
    import json
    import re
    from pathlib import Path

    from vaelab._version import REPOSITORY, install_command

    root = Path(__file__).resolve().parent.parent
    assert re.search(rf"^repository:\n  url: {re.escape(REPOSITORY)}$", (root / "_config.yml").read_text(), re.M)
    chapters = sorted((root / "book").glob("0*.ipynb"))
    assert len(chapters) == 8
    for chapter in chapters:
        cells = json.loads(chapter.read_text())["cells"]
        first = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
        version = re.search(r'BOOK_VERSION = "([^"]+)"', first).group(1)
        assert version == vl.__version__, chapter.name
        command = install_command(version)  # pip install "vaelab @ git+REPOSITORY@vVERSION"
        assert "%" + command.replace("pip install", "pip install --quiet ipywidgets") in first, chapter.name
        assert "vaelab==" not in chapter.read_text() and "vaelab[book]" not in first, chapter.name
