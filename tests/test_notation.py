"""One notation in every chapter: the chapters' maths uses the symbols of book/notation.md and none of the ones it
retired (each had two meanings somewhere in the book)."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]-*.ipynb"))
NOTATION = (ROOT / "book" / "notation.md").read_text()
MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$]+)\$", re.S)
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota",
         "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
         "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}

# pattern in a formula -> the notation page's symbol instead
RETIRED = {
    r"p_\\lambda": "the VampPrior is p_{\\text{Vamp}}(z): λ is only ever the KL weight",
    r"\\mathbb R\^\{?k\b|\bk\s*\\times\s*k\b": "the latent dimension is J (z ∈ R^J, a J × J covariance)",
    r"\b2\s*d\s*\\sigma": "the kernel scale is C = 2Jσ²: J is the latent dimension, d the data's",
    r"\\alpha\s*\+\s*\\lambda\s*-": "InfoVAE's divergence weight is α + λ_MMD − 1: λ alone is the KL weight",
    r"\\lambda\s*(\\,)?\s*\\mathrm\{MMD\}": "the MMD weight is λ_MMD (\\lambda_{\\text{MMD}})",
    r"\\tfrac\s*D\s*2|\bD\s*\\log": "the data's dimension is d",
    r"(?:\bA|\bz|\\mu|\\sigma)_u\b": "a latent dimension's index is j (z_j, A_j): u is the VampPrior's pseudo-inputs",
}


def formulas(path):
    """(formula, the text just before it) for every $...$ and $$...$$ of a chapter's Markdown."""
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    return [(m.group(1) or m.group(2), text[max(0, m.start() - 40):m.start()]) for m in MATH.finditer(text)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_chapter_uses_no_retired_symbol(path):
    found = []
    for formula, before in formulas(path):
        for pattern, instead in RETIRED.items():
            if re.search(pattern, formula):
                found.append(f"${formula.strip()[:60]}$: {instead}")
        if "\\kappa" in formula and "Dai and Wipf" not in before:
            found.append(f"${formula.strip()[:60]}$: the latent dimension is J (say 'Dai and Wipf's κ' once)")
    assert not found, "\n".join(found)


def test_chapter_7_calls_the_second_stage_code_v():
    """u is the VampPrior's pseudo-inputs (chapter 3); the second stage's code is v."""
    loose_u = [f for f, before in formulas(ROOT / "book" / "07-two-stage.ipynb")
               if re.search(r"(?<![\\\w])u(?![\w])", f) and "Dai and Wipf" not in before]
    assert not loose_u, loose_u


def test_every_greek_letter_of_the_chapters_is_on_the_notation_page():
    on_page = {g for g in GREEK if re.search(rf"\\{g}(?![a-zA-Z])", NOTATION)}
    for path in CHAPTERS:
        used = {g for formula, _ in formulas(path) for g in re.findall(r"\\([a-zA-Z]+)", formula) if g in GREEK}
        assert used <= on_page, f"{path.name} uses {sorted(used - on_page)}, which book/notation.md does not define"
