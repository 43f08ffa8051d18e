"""Small charts for asset metadata: PNG images inside Markdown, which the Dagster UI shows."""

from __future__ import annotations

import base64
import io


def png_chart(
    series: dict[str, list[tuple]],
    title: str,
    ylabel: str,
    kind: str = "line",
    markers: dict[str, list[tuple]] | None = None,
) -> str:
    """A line chart (x, y points per series; `markers` are drawn on it as red crosses), a grouped bar
    chart (`bar`: category, value per series) or a stacked one (`stacked`: the series of each category
    on top of each other, categories sorted), as a Markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=90)
    if kind == "bar":
        cats = list(dict.fromkeys(c for points in series.values() for c, _ in points))
        width = 0.8 / max(len(series), 1)
        for n, (label, points) in enumerate(series.items()):
            values = dict(points)
            ax.bar(np.arange(len(cats)) + n * width, [values.get(c, 0) for c in cats], width, label=label)
        ax.set_xticks(np.arange(len(cats)) + width * (len(series) - 1) / 2, cats, rotation=30, ha="right")
    elif kind == "stacked":
        cats = sorted({c for points in series.values() for c, _ in points})
        bottom = np.zeros(len(cats))
        for label, points in series.items():
            values = dict(points)
            heights = np.array([values.get(c, 0) for c in cats], dtype=float)
            ax.bar(np.arange(len(cats)), heights, 0.7, bottom=bottom, label=label)
            bottom += heights
        ax.set_xticks(np.arange(len(cats)), cats, rotation=30, ha="right")
    else:
        for label, points in series.items():
            if points:
                xs, ys = zip(*points)
                ax.plot(
                    xs,
                    ys,
                    marker="o" if not markers else None,
                    linewidth=1.5 if not markers else 1.0,
                    markersize=3,
                    label=label,
                )
        for label, points in (markers or {}).items():
            if points:
                xs, ys = zip(*points)
                ax.scatter(xs, ys, marker="x", s=40, color="red", zorder=3, label=label)
        xs_all = [x for points in series.values() for x, _ in points]
        if xs_all and all(isinstance(x, int) for x in xs_all):
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # versions, counts: no 1.5
        else:
            fig.autofmt_xdate()
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if len(series) + len(markers or {}) > 1:
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return png_markdown(buf.getvalue(), title)


def png_markdown(png: bytes, title: str) -> str:
    """A PNG as a Markdown image the Dagster UI shows inline."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def series_by(rows, top: int = 8) -> dict[str, list[tuple]]:
    """(x, series, value) rows as chart series: the `top` largest series by total, the rest summed
    as "other", so that a chart keeps a legend a person can read."""
    totals: dict[str, float] = {}
    for _, name, value in rows:
        totals[str(name)] = totals.get(str(name), 0) + value
    kept = set(sorted(totals, key=lambda n: (-totals[n], n))[:top])
    series: dict[str, dict] = {}
    for x, name, value in rows:
        label = str(name) if str(name) in kept else "other"
        points = series.setdefault(label, {})
        points[x] = points.get(x, 0) + value
    return {label: sorted(points.items()) for label, points in series.items()}
