"""A cyclic schedule's grid as a Gantt chart PNG (matplotlib, imported only when drawing)."""

from __future__ import annotations

from pathlib import Path

from squall.plan.cyclic import CyclicSchedule
from squall.plan.model import PlanError, as_number

_MAX_FRAME_LINES = 200  # more frame boundaries than this would paint the chart grey


def write_gantt(schedule: CyclicSchedule, path: str | Path) -> Path:
    """Draw ``schedule.grid`` to ``path`` as a PNG: one row per task, time in the task set's
    units, frame boundaries as dotted vertical lines when the grid follows frames.

    Every piece lies within its job's [release, release + D), so no deadline miss is drawn.
    Raises PlanError when there is no grid or matplotlib is missing.
    """
    if schedule.grid is None:
        raise PlanError(f"no grid to draw: {schedule.note}")
    try:  # the Agg canvas directly: no pyplot, no global backend switch
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlanError(
            "write_gantt needs matplotlib, which is not installed: pip install matplotlib"
        ) from None
    names = list(schedule.tasks) or sorted({name for _, _, name, _ in schedule.grid})
    row = {name: n for n, name in enumerate(names)}
    horizon = float(schedule.hyperperiod)
    fig = Figure(figsize=(6 + min(10, 0.4 * len(schedule.grid)), 1.5 + 0.5 * len(names)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for start, end, name, job in schedule.grid:
        bars.setdefault(name, []).append((float(start), float(end - start)))
        if len(schedule.grid) <= 60:  # job numbers only while they stay legible
            ax.text(float(start + end) / 2, row.get(name, 0), str(job), ha="center", va="center")
    colours = ["#7aa6c2", "#e3a857", "#8fbf7f", "#c98bb9", "#d9776f", "#a89cc8", "#c2b280"]
    for n, name in enumerate(names):
        ax.broken_barh(bars[name], (n - 0.4, 0.8), facecolors=colours[n % len(colours)])
    if schedule.frame is not None:
        count = int(schedule.hyperperiod / schedule.frame)
        if count <= _MAX_FRAME_LINES:
            for m in range(count + 1):
                ax.axvline(float(m * schedule.frame), color="0.4", linestyle=":", linewidth=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first task on top
    ax.set_xlim(0, horizon)
    ax.set_xlabel(f"time ({schedule.units})")
    if schedule.frame is not None:
        kind = f"frames of {as_number(schedule.frame)} {schedule.units}"
    else:
        kind = "preemptive, jobs sliced" if schedule.sliced else "non-preemptive, no frames"
    hyper = f"{as_number(schedule.hyperperiod)} {schedule.units}"
    ax.set_title(f"cyclic schedule: hyperperiod {hyper}, {kind}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png")
    return out
