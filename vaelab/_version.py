__version__ = "0.1.0"
REPOSITORY = "https://github.com/vaelab/vaelab"  # the book's repository (as _config.yml names it; a test checks)


def install_command(version: str = __version__) -> str:
    """The pip command that installs vaelab ``version`` from the book's repository (no package index serves it)."""
    return f'pip install "vaelab @ git+{REPOSITORY}@v{version}"'


def require_version(book_version: str) -> str:
    """Check that the installed vaelab is the one a chapter was written for; return the installed version.

    Each chapter's first cell calls this with the book's version.  A different major or minor version is an error that
    says how to fix it (book and library drifting apart is the commonest way a teaching notebook breaks); a different
    patch version only warns.
    """
    import warnings

    def parts(version: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in version.split("+")[0].split(".")[:3])
        except ValueError as err:
            raise ValueError(f"Not a version number: {version!r} (expected e.g. '0.1.0').") from err

    book, installed = parts(book_version), parts(__version__)
    fix = (f"Install the matching library with `{install_command(book_version)}` (or `pip install -e .` in the "
           f"book's repository at tag v{book_version}), or read the edition of the book for vaelab {__version__}.")
    if book[:2] != installed[:2]:
        raise RuntimeError(f"This chapter was written for vaelab {book_version}, but vaelab {__version__} is "
                           f"installed: its code may not run as the text says. {fix}")
    if book != installed:
        warnings.warn(f"This chapter was written for vaelab {book_version}; vaelab {__version__} is installed (a patch "
                      "release: it should run, but figures may differ slightly).", UserWarning, stacklevel=2)
    return __version__
