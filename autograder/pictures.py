"""Pictures for students and instructors, as PNG data URIs so one HTML file carries them.

nbgrader's release_feedback copies only .html files, so a picture beside the page would never reach the student.
"""
import base64
import contextlib
import io
import warnings

import numpy as np


@contextlib.contextmanager
def _quiet():
    """Pictures render inside nbgrader's test cells, which score 0 on any stderr output: a matplotlib warning or
    its one-off font-cache notice must not cost the student their points."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _png_data_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width, height):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


@_quiet()
def difference_heatmap(name: str, difference: np.ndarray) -> str:
    """Where a gradient differs from autograd's: |student - reference| as an image, like the lecture's imshow."""
    grid = difference.reshape(difference.shape[0], -1) if difference.ndim > 1 else difference.reshape(1, -1)
    fig, ax = _figure(min(6, 1.5 + grid.shape[1] / 12), min(4, 1 + grid.shape[0] / 12))
    image = ax.imshow(grid, cmap="magma", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="|yours - autograd|")
    ax.set_title(f"d{name}: where it differs")
    ax.set_xlabel("column" if difference.ndim > 1 else "index")
    if difference.ndim > 1:
        ax.set_ylabel("row")
    return _png_data_uri(fig)



@_quiet()
def loss_curves(losses: list, reference_losses: list) -> str:
    """Exercise 4: the loss of the student's training run against the reference solution's, step by step."""
    fig, ax = _figure(4, 2.5)
    steps = range(1, len(reference_losses) + 1)
    ax.plot(steps, reference_losses, "o-", color="#6e7781", label="reference solution")
    ax.plot(steps[: len(losses)], [float("nan") if x is None else x for x in losses], "o--", color="#cf222e",
            label="your loop")  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_xticks(list(steps))
    ax.legend()
    return _png_data_uri(fig)
