"""What a student's nbgrader feedback shows of the hidden tests: their verdict and message, not their code.

nbgrader's feedback is the graded notebook as HTML, hidden tests included, and an error's traceback quotes the lines
around the failing assert.  ``HideHiddenTests`` (wired into the course's nbgrader_config.py by course/assign.py)
replaces a hidden-test cell's code by one comment line and each of its errors by ``AssertionError: <message>``, so the
student reads what failed in words and the tests stay usable next term.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool

HIDDEN_SUFFIX = "-hidden"  # the grade_id of course/assign.py's hidden-test cells ends so
PLACEHOLDER = "# hidden tests: their code stays with the instructor; what they found is below"


class HideHiddenTests(Preprocessor):
    enabled = Bool(True, help="nbconvert's preprocessors are off unless enabled; nbgrader registers them as they are")

    def preprocess_cell(self, cell, resources, index):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").endswith(HIDDEN_SUFFIX):
            cell.source = PLACEHOLDER
            cell.outputs = [new_output("stream", name="stderr", text=f"{out.ename}: {out.evalue}\n")
                            if out.output_type == "error" else out for out in cell.get("outputs", [])]
        return cell, resources
