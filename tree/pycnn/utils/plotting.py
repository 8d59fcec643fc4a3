"""Training curves from a History (matplotlib is an optional extra)."""


def _pyplot():
    try:
        import matplotlib
        if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
            import os
            if not os.environ.get("DISPLAY"):
                matplotlib.use("Agg")  # headless machines: draw to files
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib "
                          "(or pip install 'pycnn[plot]')") from exc
    return plt


def plot_history(history, metrics=None, filepath=None, title=None):
    """One panel per metric (training and ``val_`` curves together).

    ``history`` is what ``fit`` returns (or its ``.history`` dict); ``metrics``
    picks the names to draw (default: every non-``val_`` key). Saves to
    ``filepath`` when given and returns the matplotlib Figure.
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history expects a History or a non-empty dict of lists")
    names = metrics or [k for k in logs if not k.startswith("val_")]
    missing = [n for n in names if n not in logs]
    if missing:
        raise ValueError(f"plot_history: no such metric(s) {missing}; have {sorted(logs)}")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], marker="o", label=name)
        if "val_" + name in logs:
            ax.plot(epochs, logs["val_" + name], marker="o", label="val_" + name)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if filepath:
        fig.savefig(filepath)
    return fig
