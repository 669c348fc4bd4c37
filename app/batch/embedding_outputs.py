"""What batch scoring writes for an embedding model: `embeddings.npy`, one float32 row per scored
input row, and `embedding_rows.csv` saying which input row each is (row_number_per_file,
batch_input_file_name, Azure's names), line for line.

The .npy grows as rows come: its header is written with room for any row count and rewritten
after every mini-batch, so the file is a valid array (`numpy.load`, with `mmap_mode="r"` for a
corpus larger than memory) after each one, and after a crash once the ledger has cut it back.
"""

import ast
import csv
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.tasks.feature_extraction import Embedding

EMBEDDINGS_NAME = "embeddings.npy"
ROWS_NAME = "embedding_rows.csv"
MAGIC = b"\x93NUMPY\x01\x00"
HEADER_BYTES = 128  # magic, length, and the dict padded with spaces: room for any shape
ROW_DTYPE = np.dtype("<f4")


class EmbeddingWriter:
    """Appends rows to `embeddings.npy` and their ids to `embedding_rows.csv` in `directory`."""

    names = (EMBEDDINGS_NAME, ROWS_NAME)

    def __init__(self, directory: Path) -> None:
        path = directory / EMBEDDINGS_NAME
        # Not append mode: Linux's pwrite appends there, whatever the offset, and the header is at 0.
        self.vectors = path.open("r+b" if path.exists() else "w+b")
        self.rows: IO[str] = (directory / ROWS_NAME).open("a", newline="", encoding="utf-8")
        self.dimensions = _dimensions(self.vectors)
        self.flush()  # a resumed file, cut back by the ledger: its header counts what is left

    def write(self, lines: list[tuple[str, int, dict[str, Any], Embedding]]) -> None:
        if not lines:
            return
        vectors = np.asarray([embedding.vector for *_, embedding in lines], dtype=ROW_DTYPE)
        if self.dimensions is None:
            self.dimensions = vectors.shape[1]
            self.vectors.write(_header(0, self.dimensions))
        self.vectors.write(vectors.tobytes())
        csv.writer(self.rows).writerows([row, file] for file, row, _, _ in lines)

    def flush(self) -> None:
        """Data first, then the header that counts it: a header never claims rows not on disk."""
        self.rows.flush()
        self.vectors.flush()
        if self.dimensions is not None:
            size = os.fstat(self.vectors.fileno()).st_size
            rows = (size - HEADER_BYTES) // (ROW_DTYPE.itemsize * self.dimensions)
            os.pwrite(self.vectors.fileno(), _header(rows, self.dimensions), 0)

    def close(self) -> None:
        self.flush()
        self.vectors.close()
        self.rows.close()


def _header(rows: int, dimensions: int) -> bytes:
    described = f"{{'descr': '{ROW_DTYPE.str}', 'fortran_order': False, 'shape': ({rows}, {dimensions}), }}"
    padding = HEADER_BYTES - len(MAGIC) - 2 - len(described) - 1
    text = (described + " " * padding + "\n").encode("latin1")
    return MAGIC + len(text).to_bytes(2, "little") + text


def _dimensions(stream: IO[bytes]) -> int | None:
    """The width of the rows already there (a resumed job), or None for a new file."""
    stream.seek(0)
    header = stream.read(HEADER_BYTES)
    stream.seek(0, os.SEEK_END)
    if len(header) < HEADER_BYTES:
        return None
    described = ast.literal_eval(header[len(MAGIC) + 2 :].decode("latin1").strip())
    return int(described["shape"][1])
