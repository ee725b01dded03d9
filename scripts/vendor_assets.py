"""Fetch the book's front-end assets so that the HTML works with no network (`make vendor`, run by `make book`).

The stock Jupyter Book build loads MathJax 3 (the maths), require.js and @jupyter-widgets/html-manager (the
widgets) from CDNs. This script downloads pinned npm tarballs of them with `npm pack` (a download only: no
node_modules, no install scripts), checks their sha512 against the pins below, and unpacks only what the pages
load into a git-ignored folder (default `_vendor/`), which `_config.yml` gives Sphinx as a static path:

    _vendor/mathjax/        MathJax 3 es5 subset: tex-mml-chtml.js and what it loads on demand (~3 MB of 24 MB)
    _vendor/requirejs/      require.js
    _vendor/html-manager/   embed-amd.js and the font files its CSS names

Nothing third-party is committed. Re-running with the files in place does nothing (a stamp records what was
unpacked); a changed pin or file list here re-fetches.

    python scripts/vendor_assets.py [DEST]     # default DEST: _vendor at the repository root
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# npm spec, sha512 of the tarball (npm's `dist.integrity`), folder under DEST, the files to keep (glob patterns
# relative to the package root; a pattern ending in /** keeps a whole folder), and where they go (the package
# path prefix that is stripped).
PACKAGES = [
    {
        "spec": "mathjax@3.2.2",
        "integrity": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "dest": "mathjax",
        "strip": "es5/",
        # the combined TeX + MathML input / CommonHTML output component, and what it loads on demand: TeX
        # extensions (\cancel, ...), the CHTML fonts, the context menu and the accessibility components it
        # offers; left out: SVG output, other combined builds, the speech-rule engine's maps (sre/, 4 MB)
        "keep": [
            "es5/tex-mml-chtml.js",
            "es5/input/tex/extensions/**",
            "es5/output/chtml/**",
            "es5/ui/**",
            "es5/a11y/**",
            "es5/adaptors/**",
            "LICENSE",
        ],
        "check": ["tex-mml-chtml.js", "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff"],
    },
    {
        "spec": "requirejs@2.3.7",
        "integrity": "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        "dest": "requirejs",
        "strip": "",
        "keep": ["require.js"],  # its MIT license is in the file's header
        "check": ["require.js"],
    },
    {
        "spec": "@jupyter-widgets/html-manager@1.0.6",
        "integrity": "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
        "dest": "html-manager",
        "strip": "dist/",
        # the AMD bundle myst-nb loads, and the FontAwesome files its CSS names (woff2/woff/ttf; the IE-only
        # eot and svg fonts are left out)
        "keep": [
            "dist/embed-amd.js",
            "dist/*.woff2",
            "dist/*.woff",
            "dist/*.ttf",
            "dist/embed.js.LICENSE.txt",
            "LICENSE",
        ],
        "check": ["embed-amd.js"],
    },
]

STAMP = ".vendored"  # a dot file: Sphinx does not copy it into _static


def manifest() -> dict:
    return {p["dest"]: {"spec": p["spec"], "integrity": p["integrity"], "keep": p["keep"]} for p in PACKAGES}


def up_to_date(dest: Path) -> bool:
    stamp = dest / STAMP
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    if recorded != manifest():
        return False
    return all((dest / p["dest"] / f).is_file() for p in PACKAGES for f in p["check"])


def find_npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "error: npm not found. The book's offline HTML needs MathJax, require.js and the Jupyter widget\n"
            "manager, which this script fetches with `npm pack`. Install npm (Debian/Ubuntu: `sudo apt-get\n"
            "install npm`; or Node.js from https://nodejs.org) and run `make vendor` again."
        )
    return npm


def npm_pack(npm: str, specs: list[str], into: Path) -> None:
    cmd = [npm, "pack", "--silent", "--pack-destination", str(into), *specs]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(
            f"error: `{' '.join(cmd[1:])}` failed (exit code {result.returncode}); is the npm registry "
            f"reachable?\n{result.stderr.strip()}"
        )


def tarball_name(spec: str) -> str:
    """npm pack's file name: @scope/name@1.0 -> scope-name-1.0.tgz"""
    name, version = spec.rsplit("@", 1)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def check_integrity(path: Path, integrity: str) -> None:
    algo, expected = integrity.split("-", 1)
    digest = base64.b64encode(hashlib.new(algo, path.read_bytes()).digest()).decode()
    if digest != expected:
        sys.exit(f"error: {path.name} does not match its pinned {algo} ({integrity}); refusing to use it")


def unpack(tarball: Path, package: dict, out: Path) -> int:
    """Extract the kept files of one package (npm tarballs put everything under package/) into out."""
    n = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            rel = member.name[len("package/"):]
            if not any(fnmatch.fnmatchcase(rel, pat) or
                       (pat.endswith("/**") and rel.startswith(pat[:-2])) for pat in package["keep"]):
                continue
            target_rel = rel[len(package["strip"]):] if rel.startswith(package["strip"]) else rel
            target = out / target_rel
            if ".." in Path(target_rel).parts or Path(target_rel).is_absolute():
                sys.exit(f"error: unsafe path {member.name!r} in {tarball.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            n += 1
    missing = [f for f in package["check"] if not (out / f).is_file()]
    if missing:
        sys.exit(f"error: {tarball.name} lacks {missing}; has the package layout changed?")
    return n


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "_vendor"
    if up_to_date(dest):
        print(f"{dest}: front-end assets up to date")
        return
    npm = find_npm()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / STAMP).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        tmp = Path(tmp)
        print("npm pack " + " ".join(p["spec"] for p in PACKAGES))
        npm_pack(npm, [p["spec"] for p in PACKAGES], tmp)
        for package in PACKAGES:
            tarball = tmp / tarball_name(package["spec"])
            check_integrity(tarball, package["integrity"])
            staging = tmp / ("unpacked-" + package["dest"])
            n = unpack(tarball, package, staging)
            final = dest / package["dest"]
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
            print(f"  {package['spec']:40s} {n:4d} files {size_mb(final):6.1f} MB -> {final}")
    (dest / STAMP).write_text(json.dumps(manifest(), indent=1) + "\n")


if __name__ == "__main__":
    main()
