"""Figures of the experiments (matplotlib, drawn off-screen)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..metrics import gmm_log_density  # noqa: E402

KIND_COLORS = {"joint": "tab:blue", "marginal": "tab:orange", "rotated": "tab:green",
               "polish": "tab:red"}


def box_plot(values: Mapping[str, Sequence[float]], ylabel: str, path: Path, title: str) -> Path:
    """One box (with the points) per method."""
    fig, ax = plt.subplots(figsize=(1.6 * len(values) + 2, 4.5))
    names = list(values)
    ax.boxplot([values[n] for n in names], showfliers=False)
    for i, name in enumerate(names, start=1):
        ax.scatter(np.full(len(values[name]), i), values[name], s=14, color="k", zorder=3)
    ax.set_xticks(range(1, len(names) + 1), [n.replace(", ", ",\n") for n in names], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def density_contours(truth: tuple, fits: Mapping[str, Any], path: Path, title: str) -> Path:
    """The true density and each fitted one as contours, with the means drawn
    as dots whose area is proportional to the weight."""
    grid = np.linspace(-6, 6, 200)
    xx, yy = np.meshgrid(grid, grid)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    panels = {"truth": truth} | {name: (m.weights_, m.means_, m.covariances_)
                                 for name, m in fits.items()}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
    for ax, (name, (w, mu, cov)) in zip(axes, panels.items()):
        dens = np.exp(gmm_log_density(points, w, mu, cov)).reshape(xx.shape)
        ax.contour(xx, yy, dens, levels=12, cmap="viridis", linewidths=0.7)
        if name != "truth":
            t = np.exp(gmm_log_density(points, *truth)).reshape(xx.shape)
            ax.contour(xx, yy, t, levels=[t.max() / 2], colors="0.6", linewidths=0.5)
        ax.scatter(mu[:, 0], mu[:, 1], s=2000 * np.asarray(w), c="tab:red", alpha=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlim(-6, 6)
        ax.set_ylim(-6, 6)
    fig.suptitle(f"{title}: density contours; dots = means, area = weight")
    return _save(fig, path)


def ll_trace(kinds: Sequence[str], lls: np.ndarray, path: Path, title: str) -> Path:
    """Joint log-likelihood after each iteration, each point coloured by the
    kind of view that iteration used."""
    fig, ax = plt.subplots(figsize=(9, 4))
    it = np.arange(1, len(lls) + 1)
    ax.plot(it, lls, color="0.8", linewidth=0.6, zorder=1)
    for kind, color in KIND_COLORS.items():
        sel = np.array([k == kind for k in kinds])
        if sel.any():
            ax.scatter(it[sel], lls[sel], s=4, color=color, label=kind, zorder=2)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean training log-likelihood")
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bar_chart(values: Mapping[str, Mapping[str, tuple[float, float]]], ylabel: str, path: Path,
              title: str) -> Path:
    """Grouped bars: ``values[group][method] = (mean, sd)``."""
    groups = list(values)
    methods = list(dict.fromkeys(m for g in groups for m in values[g]))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(1.4 * len(groups) + 3, 4.5))
    for i, method in enumerate(methods):
        mean = [values[g].get(method, (np.nan, 0))[0] for g in groups]
        sd = [values[g].get(method, (np.nan, 0))[1] for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, mean, width, yerr=sd, label=method, capsize=2)
    return _save_grouped(fig, ax, groups, width, ylabel, title, path)


def grouped_points(values: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str, path: Path,
                   title: str, threshold: float | None = None) -> Path:
    """Every value as a dot, grouped: ``values[group][method]`` is one list per
    method, drawn side by side within each group with a bar at its mean.

    The y axis is symmetric-log (linear within +-``threshold``), so that gaps
    of 0.001 and of 1 are both readable; ``threshold`` is also drawn as a
    dashed line.
    """
    groups = list(values)
    methods = list(dict.fromkeys(m for g in groups for m in values[g]))
    width = 0.8 / max(1, len(methods))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    jitter = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(1.9 * len(groups) + 3, 4.8))
    for i, method in enumerate(methods):
        color = colors[i % len(colors)]
        for j, group in enumerate(groups):
            v = np.asarray(values[group].get(method, ()), dtype=float)
            if v.size == 0:
                continue
            x = j + i * width
            ax.scatter(x + jitter.uniform(-0.25, 0.25, v.size) * width, v, s=12, color=color,
                       label=method if j == 0 else None, zorder=3)
            ax.hlines(v.mean(), x - 0.4 * width, x + 0.4 * width, color=color, linewidth=2)
    if threshold is not None:
        ax.set_yscale("symlog", linthresh=threshold)
        ax.axhline(threshold, color="0.4", linestyle="--", linewidth=0.8)
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    return _save_grouped(fig, ax, groups, width, ylabel, title, path)


def _save_grouped(fig, ax, groups: Sequence[str], width: float, ylabel: str, title: str,
                  path: Path) -> Path:
    """Label a chart of methods side by side (``width`` each) within ``groups`` and save it."""
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
