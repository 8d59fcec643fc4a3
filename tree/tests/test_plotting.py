import pytest

import pycnn


def test_plot_history_draws_one_panel_per_metric(tmp_path):
    pytest.importorskip("matplotlib")
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.4], "accuracy": [.5, .7, .9]}
    fig = pycnn.utils.plot_history(history, filepath=tmp_path / "h.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    assert (tmp_path / "h.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="nope"):
        pycnn.utils.plot_history(history, metrics=["nope"])
