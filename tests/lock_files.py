"""Reading the lock files of requirements/ (uv's requirements format)."""

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.paths import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"


@dataclass
class Pin:
    version: Version
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def parse_lock(path: Path) -> dict[str, Pin]:
    """uv's requirements format: `name==version \\`, `--hash=` lines, then `# via` lines."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line):
            current = pins[canonicalize_name(match[1])] = Pin(Version(match[2]))
            in_via = False
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            current.hashes += 1
        elif current is not None and (match := re.match(r"^\s+# via\s*(.*)$", line)):
            in_via = True
            if match[1]:
                current.via.append(match[1].strip())
        elif current is not None and in_via and (match := re.match(r"^\s+#\s{3}(.+)$", line)):
            current.via.append(match[1].strip())
    return pins
