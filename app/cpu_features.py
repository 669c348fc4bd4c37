"""What this CPU runs natively, read from /proc/cpuinfo: it decides `--precision auto` and the
int8 engine. Kept apart from torch so the choice is testable with the flags faked."""

from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuFeatures:
    model: str
    flags: frozenset[str]

    @property
    def amx(self) -> bool:
        """Intel AMX with bf16 tiles (Sapphire Rapids and newer): oneDNN runs bf16 and int8 matmuls on it."""
        return {"amx_tile", "amx_bf16"} <= self.flags

    @property
    def avx512_bf16(self) -> bool:
        return "avx512_bf16" in self.flags

    @property
    def avx512_vnni(self) -> bool:
        return "avx512_vnni" in self.flags

    def describe(self) -> str:
        present = [
            name
            for name, has in (
                ("AMX", self.amx),
                ("AVX512-BF16", self.avx512_bf16),
                ("AVX512-VNNI", self.avx512_vnni),
            )
            if has
        ]
        return f"{self.model} ({', '.join(present) or 'no AMX, AVX512-BF16 or VNNI'})"


def read_cpu_features(cpuinfo: Path = CPUINFO) -> CpuFeatures:
    """The first processor's model name and flags; empty where /proc/cpuinfo is absent."""
    model, flags = "unknown CPU", frozenset[str]()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key == "flags" and not flags:
                flags = frozenset(value.split())
    return CpuFeatures(model, flags)
