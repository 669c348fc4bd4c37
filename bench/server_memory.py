"""The resident memory of `python -m app serve`, once ready and after a few requests, by COMPILE and
PRECISION: what holding the model costs, and whether a compiled one holds its weights once.

RSS is VmRSS; the checkpoint file, mapped by transformers, and the package's library count in it as
file-backed pages, so both parts are shown (smaps_rollup's Anonymous and the rest).

    python -m bench.server_memory --checkpoint DIR [--compile off on] [--precisions fp32 bf16]
"""

import argparse
import re
from pathlib import Path

import httpx

from bench.run import DEFAULT_CHECKPOINT
from bench.server_process import free_port, start_our_server, wait_until_ready

REQUESTS = 20
Memory = dict[str, float]
SENTENCES = [
    "The quick brown fox jumps over the [MASK] dog.",
    "Paris is the [MASK] of France and a large city with many people.",
]


def resident_mb(pid: int) -> Memory:
    """VmRSS, its anonymous and file-backed parts, and the peak (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()

    def kb(text: str, field: str) -> float:
        return int(re.search(rf"^{field}:\s+(\d+)", text, re.MULTILINE)[1]) / 1024  # type: ignore[index]

    rss, anonymous = kb(status, "VmRSS"), kb(rollup, "Anonymous")
    return {"rss": rss, "anonymous": anonymous, "file": rss - anonymous, "peak": kb(status, "VmHWM")}


def measure(checkpoint: Path, compile_choice: str, precision: str) -> tuple[Memory, Memory]:
    """The server's memory when ready, and after REQUESTS fill-mask requests of 2 to 8 inputs."""
    port = free_port()
    server = start_our_server(checkpoint, port, COMPILE=compile_choice, PRECISION=precision)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, server, timeout_s=1800)
        ready = resident_mb(server.pid)
        for index in range(REQUESTS):
            body = {"input_data": {"input_string": SENTENCES * (1 + index % 4)}}
            httpx.post(f"{base_url}/score", json=body, timeout=120).raise_for_status()
        compiled = httpx.get(f"{base_url}/health/ready").json().get("compiled")
        assert compiled == (compile_choice == "on"), f"COMPILE={compile_choice}, served compiled={compiled}"
        return ready, resident_mb(server.pid)
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--compile", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    args = parser.parse_args()
    print("| precision | COMPILE | RSS ready (anon + file) | RSS after 20 requests (anon + file) | peak |")
    print("|---|---|---:|---:|---:|")
    for precision in args.precisions:
        for compile_choice in args.compile:
            ready, after = measure(args.checkpoint, compile_choice, precision)
            shown = [f"{m['rss']:.0f} MB ({m['anonymous']:.0f} + {m['file']:.0f})" for m in (ready, after)]
            print(f"| {precision} | {compile_choice} | {shown[0]} | {shown[1]} | {after['peak']:.0f} MB |")


if __name__ == "__main__":
    main()
