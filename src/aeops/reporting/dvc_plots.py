"""`aeops plots`: DVC's plots page, readable offline.

``dvc plots show`` and ``dvc plots diff`` write an HTML page that loads Vega, Vega-Lite and
Vega-Embed from a CDN, so on a machine without internet it is blank. This writes DVC an HTML
template that carries those libraries inline (the bundle ``vl-convert-python`` ships, from
the Vega project) and runs DVC with it: the page then renders from the file alone.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from aeops.core.errors import AeopsError

log = logging.getLogger(__name__)

TEMPLATE = Path(".dvc/tmp/aeops_offline_plots.html")  # DVC's own ignored scratch folder
OUTPUT_DIR = Path("dvc_plots")  # where DVC writes the page (ignored by git)
GLOBALS = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>aeops: DVC plots</title>
<script>VEGA_BUNDLE</script>
<style>body { font-family: sans-serif; } table { border-spacing: 15px; }</style>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def offline_template(path: Path = TEMPLATE) -> Path:
    """The HTML template with Vega inline (written once per installed bundle version)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(GLOBALS)
    if "</script" in bundle:  # would end the inline script early
        bundle = bundle.replace("</script", "<\\/script")
    text = PAGE.replace("VEGA_BUNDLE", bundle)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def plots_command(revisions: list[str], out_dir: Path, template: Path) -> list[str]:
    """``dvc plots show`` for the workspace, ``dvc plots diff REV...`` to compare."""
    verb = ["diff", *revisions] if revisions else ["show"]
    return [
        sys.executable,
        "-m",
        "dvc",
        "plots",
        *verb,
        "--html-template",
        str(template.resolve()),
        "-o",
        str(out_dir),
    ]


def write_plots(revisions: list[str], out_dir: Path = OUTPUT_DIR) -> Path:
    """Run DVC with the offline template; the page's path."""
    if not Path("dvc.yaml").exists():
        raise AeopsError("no dvc.yaml here: run `aeops plots` in the project folder")
    done = subprocess.run(
        plots_command(revisions, out_dir, offline_template()),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AeopsError(
            f"dvc plots failed: {(done.stderr or done.stdout).strip()[-400:]}; run `make train` "
            "first so reports/curves holds the curves"
        )
    page = out_dir / "index.html"
    log.info(f"plots: {page} (opens offline in any browser)")
    return page
