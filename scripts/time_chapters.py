"""Time every chapter of the book, executed from scratch in table-of-contents order, and write the table.

    python scripts/time_chapters.py            # writes benchmarks/results/chapter_times.md

Each chapter runs in a fresh kernel (nbclient) in a temporary copy of book/ that starts with no checkpoints, so a
chapter that reuses an earlier chapter's models finds them exactly as in a first `make book`.  The table names the
slowest chapter and compares the total with the book's budget (10 minutes on two CPU cores).
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
BUDGET_SECONDS = 600


def chapters() -> list[Path]:
    toc = (ROOT / "_toc.yml").read_text()
    return [ROOT / page for page in re.findall(r"file: (\S+\.ipynb)", toc)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "chapter_times.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "book"
        shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
        for path in chapters():
            nb = nbformat.read(book / path.name, as_version=4)
            began = time.perf_counter()
            client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(book)}})
            client.execute()
            seconds = time.perf_counter() - began
            rows.append((path.stem, seconds))
            print(f"{path.stem}: {seconds:.0f} s", flush=True)
    total = sum(s for _, s in rows)
    slowest = max(rows, key=lambda r: r[1])
    lines = [
        "# Chapter execution times",
        "",
        f"Every chapter executed from scratch (no checkpoints) in table-of-contents order, each in a fresh kernel, by "
        f"`python scripts/time_chapters.py`: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs visible, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}.",
        "",
        "| chapter | seconds |",
        "|---|---:|",
        *[f"| {name} | {seconds:.0f} |" for name, seconds in rows],
        f"| **total** | **{total:.0f}** |",
        "",
        f"Slowest chapter: {slowest[0]} ({slowest[1]:.0f} s). Budget for the whole book: {BUDGET_SECONDS} s; "
        f"{'within' if total <= BUDGET_SECONDS else 'OVER'} budget.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
