"""Time every chapter of the book, executed from scratch in table-of-contents order, and write the table.

    python scripts/time_chapters.py                  # writes benchmarks/results/chapter_times.md
    python scripts/time_chapters.py --again --save   # also time a second execution; keep the first one's outputs

Each chapter runs in a fresh kernel (nbclient) in a temporary copy of book/ that starts with no checkpoints, so a
chapter that reuses an earlier chapter's models finds them exactly as in a first `make book`.  With ``--again`` every
chapter then runs a second time with the saved models, as the book build does after nbval.  The table compares every
chapter with the per-chapter budget (3 minutes on two CPU cores) and the total with the book's (15 minutes).
With ``--save`` the executed notebooks of the first pass (outputs included) replace those in book/.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 900  # the whole book, from scratch
CHAPTER_BUDGET_SECONDS = 180  # each chapter, from scratch (in order, sharing earlier chapters' models)


def chapters() -> list[Path]:
    toc = (ROOT / "_toc.yml").read_text()
    return [ROOT / page for page in re.findall(r"file: (\S+\.ipynb)", toc)]


def execute(book: Path, name: str) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(book / name, as_version=4)
    began = time.perf_counter()
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(book)}})
    client.execute()
    return nb, time.perf_counter() - began


def verdict(seconds: float, budget: float) -> str:
    return "within" if seconds <= budget else "OVER"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "chapter_times.md")
    parser.add_argument("--again", action="store_true", help="time a second execution with the saved models")
    parser.add_argument("--save", action="store_true", help="write the first pass's executed notebooks to book/")
    args = parser.parse_args()
    first, second = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "book"
        shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
        for path in chapters():
            nb, first[path.stem] = execute(book, path.name)
            print(f"{path.stem}: {first[path.stem]:.0f} s", flush=True)
            if args.save:
                nbformat.write(nb, path)
        if args.again:
            for path in chapters():
                _, second[path.stem] = execute(book, path.name)
                print(f"{path.stem}, again: {second[path.stem]:.0f} s", flush=True)
    total = sum(first.values())
    slowest = max(first, key=first.get)
    header = "| chapter | from scratch, s | within 3 min |" + (" again, models saved, s |" if second else "")
    lines = [
        "# Chapter execution times",
        "",
        f"Every chapter executed from scratch (no checkpoints) in table-of-contents order, each in a fresh kernel, "
        f"sharing the models earlier chapters trained, by `python scripts/time_chapters.py"
        f"{' --again' if second else ''}`: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"visible, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}."
        + (" \"Again\" is a second execution that loads the saved models (what the book build does after nbval)."
           if second else ""),
        "",
        header,
        "|---|---:|---|" + ("---:|" if second else ""),
        *[f"| {name} | {seconds:.0f} | {'yes' if seconds <= CHAPTER_BUDGET_SECONDS else '**no**'} |"
          + (f" {second[name]:.0f} |" if second else "") for name, seconds in first.items()],
        f"| **total** | **{total:.0f}** | |" + (f" **{sum(second.values()):.0f}** |" if second else ""),
        "",
        f"Slowest chapter: {slowest} ({first[slowest]:.0f} s; budget per chapter {CHAPTER_BUDGET_SECONDS} s). "
        f"Budget for the whole book: {BUDGET_SECONDS} s; {verdict(total, BUDGET_SECONDS)} budget.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
