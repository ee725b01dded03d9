"""vaelab._version: require_version, which every chapter calls first, against the library's own version: it accepts
that version, warns on another patch release and names the problem and the fix otherwise."""

import pytest

import vaelab as vl


def test_require_version_names_the_problem_and_the_fix():
    assert vl.require_version(vl.__version__) == vl.__version__
    major, minor, patch = (int(p) for p in vl.__version__.split("."))
    with pytest.raises(RuntimeError, match=r"written for vaelab .* `pip install 'vaelab=="):
        vl.require_version(f"{major}.{minor + 1}.0")
    with pytest.warns(UserWarning, match="patch release"):
        vl.require_version(f"{major}.{minor}.{patch + 1}")
    with pytest.raises(ValueError, match="Not a version number"):
        vl.require_version("latest")
