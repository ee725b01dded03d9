"""Copy the figure shown in the README out of an executed chapter notebook.

The figure is whatever PNG output the cell tagged ``readme-figure`` produced, so the README always shows what the
book computes.  Run it after executing the chapter (``make book`` or JupyterLab):

    python scripts/readme_figure.py [NOTEBOOK] [OUTPUT]

defaults: book/01-vae.ipynb → book/images/readme-figure.png (or _build/.../01-vae.ipynb if the source has no outputs).
"""

import base64
import json
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
notebook = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "book" / "01-vae.ipynb"
output = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "book" / "images" / "readme-figure.png"

cells = json.loads(notebook.read_text())["cells"]
for cell in cells:
    if "readme-figure" in cell.get("metadata", {}).get("tags", []):
        images = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            sys.exit(f"The cell tagged readme-figure in {notebook} has no PNG output: execute the notebook first.")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(base64.b64decode(images[-1]))
        print(f"wrote {output} ({output.stat().st_size:,} bytes)")
        break
else:
    sys.exit(f"No cell of {notebook} is tagged readme-figure.")
