"""Pictures for students and instructors, as PNG data URIs so one HTML file carries them.

nbgrader's release_feedback copies only .html files, so a picture beside the page would never reach the student.
"""
import base64
import contextlib
import functools
import io
import warnings

import numpy as np


def _picture_or_none(draw):
    """A picture is an aid, never a reason to lose a grade: one that cannot be drawn from the values a run gave is
    left out (None), and the table and messages carry the verdict."""

    @functools.wraps(draw)
    def safe(*args, **kwargs):
        try:
            return draw(*args, **kwargs)
        except Exception:
            return None

    return safe


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


@_picture_or_none
@_quiet()
def difference_heatmap(name: str, difference: np.ndarray) -> str | None:
    """Where a gradient differs from autograd's: |student - reference| as an image, like the lecture's imshow.

    Drawn with Pillow, not a matplotlib figure: grading a class draws one per failing check, and a figure with a
    colorbar costs ~50-200 ms where this costs ~2 ms. Dark is equal, bright is the largest difference (the scale
    is beside the image); NaN or infinite entries are cyan.
    """
    from matplotlib import colormaps
    from PIL import Image, ImageDraw, ImageFont

    if difference.size == 0:
        return None
    grid = difference.reshape(difference.shape[0], -1) if difference.ndim > 1 else difference.reshape(1, -1)
    grid = np.abs(grid.astype(np.float64))
    finite = np.isfinite(grid)
    top = float(grid[finite].max()) if finite.any() and grid[finite].max() > 0 else 1.0
    colours = (colormaps["magma"](np.clip(np.where(finite, grid, 0) / top, 0, 1))[..., :3] * 255).astype(np.uint8)
    colours[~finite] = (0, 255, 255)
    rows, cols = grid.shape
    cell_w, cell_h = max(1, min(24, 480 // cols)), max(1, min(24, 200 // rows), -(-48 // rows))  # bar labels fit
    heat = Image.fromarray(colours).resize((cols * cell_w, rows * cell_h), Image.NEAREST)
    bar = Image.fromarray((colormaps["magma"](np.linspace(1, 0, heat.height))[:, None, :3] * 255).astype(np.uint8)
                          .repeat(12, axis=1))  # fmt: skip
    font = ImageFont.load_default(size=12)
    image = Image.new("RGB", (heat.width + 90, heat.height + 28), "white")
    image.paste(heat, (4, 22))
    image.paste(bar, (heat.width + 12, 22))
    draw = ImageDraw.Draw(image)
    draw.text((4, 4), f"d{name}: |yours - autograd|, {rows} x {cols}", fill="black", font=font)
    draw.text((heat.width + 28, 22), f"{top:.2g}", fill="black", font=font)
    draw.text((heat.width + 28, 22 + heat.height - 12), "0", fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def score_histogram(scores: list[float], max_score: float) -> str:
    """The class's scores, one bar per band of points."""
    fig, ax = _figure(6, 3)
    bins = np.linspace(0, max_score, min(27, int(max_score) + 1) + 1)
    ax.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, max_score)
    ax.set_xlabel(f"score (of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Scores")
    return _png_data_uri(fig)



@_picture_or_none
@_quiet()
def loss_curves(losses: list, reference_losses: list) -> str | None:
    """Exercise 4: the loss of the student's training run against the reference solution's, step by step.

    A loss that is missing, not finite or beyond a thousand times the reference's largest is not drawn (it would
    flatten the curve or break the axis); its step shows no point."""
    top = 1000 * max(reference_losses)
    yours = [x if isinstance(x, (int, float)) and np.isfinite(x) and abs(x) <= top else float("nan") for x in losses]
    fig, ax = _figure(4, 2.5)
    steps = range(1, len(reference_losses) + 1)
    ax.plot(steps, reference_losses, "o-", color="#6e7781", label="reference solution")
    ax.plot(steps[: len(yours)], yours[: len(steps)], "o--", color="#cf222e", label="your loop")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_xticks(list(steps))
    ax.legend()
    return _png_data_uri(fig)


def pass_rates(labels: list[str], rates: list[float]) -> str:
    """Share of submissions passing each check, one horizontal bar per check in the lecture's order."""
    fig, ax = _figure(6, 1 + 0.22 * len(labels))
    positions = np.arange(len(labels))
    ax.barh(positions, [100 * r for r in rates], color=["#cf222e" if r < 0.5 else "#4c72b0" for r in rates])
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of submissions passing")
    ax.set_title("Pass rate per gradient")
    return _png_data_uri(fig)
