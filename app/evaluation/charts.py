"""The PNG charts of evaluations, drawn with matplotlib's file-only backend (no display needed)."""

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; imported on first use, as it takes a second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot().close(figure)


def confusion_matrix_chart(counts: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    """Rows: gold labels; columns: predicted; each cell holds its count."""
    plt = pyplot()
    size = max(4.0, 0.7 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set(
        title=title,
        xlabel="predicted",
        ylabel="gold",
        xticks=range(len(labels)),
        yticks=range(len(labels)),
    )
    axes.set_xticklabels(labels, rotation=45, ha="right")
    axes.set_yticklabels(labels)
    largest = max((max(row) for row in counts), default=0)
    for row, values in enumerate(counts):
        for column, count in enumerate(values):
            color = "white" if largest and count > largest / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=color)
    save(figure, path)


def bar_chart(values: dict[str, float], title: str, ylabel: str, path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(max(4.0, 0.8 * len(values) + 2), 4))
    axes.bar(list(values), list(values.values()))
    axes.set(title=title, ylabel=ylabel, ylim=(0, 1))
    axes.grid(True, axis="y", alpha=0.3)
    save(figure, path)


def histogram(
    values: list[float], title: str, xlabel: str, path: Path, value_range: tuple[float, float] = (0, 100)
) -> None:
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.hist(values, bins=10, range=value_range)
    axes.set(title=title, xlabel=xlabel, ylabel="count")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, axis="y", alpha=0.3)
    save(figure, path)
