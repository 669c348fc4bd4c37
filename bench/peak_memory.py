"""Peak memory of one `python -m app` command, run in a fresh process."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb(argv: list[str]) -> float:
    """VmHWM of the command's process. Not ru_maxrss: Linux carries that over from the parent
    across exec, so a child of a large process would report the parent's peak."""
    code = (
        "import re, sys; from app.cli import main; "
        f"rc = main({argv!r}); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]); sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024
