"""Pictures for students and instructors, as data URIs so one HTML file carries them.

nbgrader's release_feedback copies only .html files, so a picture beside the page would never reach the student.
What grading draws for every submission (heatmaps, the loss curve) is encoded directly, a PNG of an array and an
SVG of a line: a matplotlib figure costs ~200 ms each and its import a second or two of every worker's start-up.
The class report's two charts, drawn once per class, are matplotlib's.
"""
import base64
import contextlib
import functools
import html
import io
import warnings

import numpy as np

# matplotlib's magma at nine evenly spaced points, from dark (equal) to bright (the largest difference).
MAGMA = np.array([[0, 0, 4], [29, 17, 71], [81, 18, 124], [131, 38, 129], [183, 55, 121], [231, 82, 99],
                  [252, 137, 97], [254, 196, 136], [252, 253, 191]], dtype=np.float64)  # fmt: skip


def magma(values: np.ndarray) -> np.ndarray:
    """Colours (uint8 RGB) for values in [0, 1], interpolated between MAGMA's points."""
    position = np.clip(values, 0, 1) * (len(MAGMA) - 1)
    low = np.minimum(position.astype(int), len(MAGMA) - 2)
    weight = (position - low)[..., None]
    return np.round(MAGMA[low] * (1 - weight) + MAGMA[low + 1] * weight).astype(np.uint8)


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


@functools.cache
def _font():
    """Pillow's own font, loaded once: loading it costs more than drawing a heatmap."""
    from PIL import ImageFont

    return ImageFont.load_default(size=12)


def difference_heatmap(name: str, difference: np.ndarray) -> str | None:
    """Where a gradient differs from autograd's, drawn once per distinct failure: in a class, the same slip made by
    many students gives the same difference, and its picture is made once per worker."""
    data = np.ascontiguousarray(difference)
    return _heatmap(name, data.tobytes(), data.shape, data.dtype.str)


@functools.lru_cache(maxsize=256)
def _heatmap(name: str, data: bytes, shape: tuple, dtype: str) -> str | None:
    return _draw_heatmap(name, np.frombuffer(data, dtype=dtype).reshape(shape))


@_picture_or_none
@_quiet()
def _draw_heatmap(name: str, difference: np.ndarray) -> str | None:
    """|student - reference| as an image, like the lecture's imshow.

    Drawn with Pillow, not a matplotlib figure: grading a class draws one per failing check, and a figure with a
    colorbar costs ~50-200 ms where this costs ~2 ms. Dark is equal, bright is the largest difference (the scale
    is beside the image); NaN or infinite entries are cyan.
    """
    from PIL import Image, ImageDraw

    if difference.size == 0:
        return None
    grid = difference.reshape(difference.shape[0], -1) if difference.ndim > 1 else difference.reshape(1, -1)
    grid = np.abs(grid.astype(np.float64))
    finite = np.isfinite(grid)
    top = float(grid[finite].max()) if finite.any() and grid[finite].max() > 0 else 1.0
    colours = magma(np.where(finite, grid, 0) / top)
    colours[~finite] = (0, 255, 255)
    rows, cols = grid.shape
    cell_w, cell_h = max(1, min(24, 480 // cols)), max(1, min(24, 200 // rows), -(-48 // rows))  # bar labels fit
    heat = Image.fromarray(colours).resize((cols * cell_w, rows * cell_h), Image.NEAREST)
    bar = Image.fromarray(magma(np.linspace(1, 0, heat.height))[:, None, :].repeat(12, axis=1))
    font = _font()
    title = f"{name}: |yours - autograd|, {rows} x {cols}"
    width = max(heat.width + 90, int(font.getlength(title)) + 8)  # a narrow gradient (a column) keeps its title
    image = Image.new("RGB", (width, heat.height + 28), "white")
    image.paste(heat, (4, 22))
    image.paste(bar, (heat.width + 12, 22))
    draw = ImageDraw.Draw(image)
    draw.text((4, 4), title, fill="black", font=font)
    draw.text((heat.width + 28, 22), f"{top:.2g}", fill="black", font=font)
    draw.text((heat.width + 28, 22 + heat.height - 12), "0", fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=1)  # a few blocks of colour: the fastest level is near the best
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


def _tick_steps(steps: int, most: int = 6) -> list[int]:
    """The steps the x axis names: 1, and every 1, 2 or 5 times a power of ten, at most `most` of them."""
    spacing = next(s * 10**k for k in range(12) for s in (1, 2, 5) if steps / (s * 10**k) < most)
    return [1] + [k for k in range(spacing, steps + 1, spacing) if k > 1]


@_picture_or_none
def loss_curves(losses: list, reference_losses: list) -> str | None:
    """Exercise 4: the loss of the student's training run against the reference solution's, step by step, as an
    SVG: a thin dark line the reference solution, drawn over a wide light red one, the student's loop.

    A loss that is missing, not finite or beyond a thousand times the reference's largest is not drawn (it would
    flatten the curve or break the axis); its step shows no point."""
    top = 1000 * max(reference_losses)
    steps = len(reference_losses)
    yours = [x if isinstance(x, (int, float)) and np.isfinite(x) and abs(x) <= top else None for x in losses[:steps]]
    drawn = [*reference_losses, *(y for y in yours if y is not None)]
    low, high = min(drawn), max(drawn)
    low, high = (low - 0.5, high + 0.5) if high - low < 1e-12 else (low - 0.1 * (high - low), high + 0.1 * (high - low))
    width, height, left, bottom = 320, 200, 56, 36
    WIDE, THIN = " stroke-width='4' stroke-opacity='0.55'", " stroke-width='1.2'"

    def point(step: int, loss: float) -> tuple[float, float]:
        x = left + (step + 0.5) * (width - left - 8) / steps
        return round(x, 1), round(8 + (high - loss) * (height - bottom - 8) / (high - low), 1)

    def line(values, colour, style) -> str:
        points = [point(k, v) for k, v in enumerate(values) if v is not None]
        # a mark at each step only while the marks stay apart (the lecture's loop has 200 steps)
        marks = "".join(f"<circle cx='{x}' cy='{y}' r='3' fill='{colour}'/>" for x, y in points) if steps <= 30 else ""
        path = " ".join(f"{x},{y}" for x, y in points)
        return f"<polyline points='{path}' fill='none' stroke='{colour}'{style}/>{marks}"

    ticks = "".join(f"<text x='{point(k - 1, low)[0]}' y='{height - bottom + 14}' text-anchor='middle'>{k}</text>"
                    for k in _tick_steps(steps))  # fmt: skip
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
           f"font-size='11'><rect width='100%' height='100%' fill='white'/>"
           f"<line x1='{left}' y1='{height - bottom}' x2='{width - 8}' y2='{height - bottom}' stroke='black'/>"
           f"<line x1='{left}' y1='8' x2='{left}' y2='{height - bottom}' stroke='black'/>{ticks}"
           f"<text x='{(left + width) / 2}' y='{height - 6}' text-anchor='middle'>step</text>"
           f"<text x='{left - 4}' y='14' text-anchor='end'>{high:.3g}</text>"
           f"<text x='{left - 4}' y='{height - bottom}' text-anchor='end'>{low:.3g}</text>"
           f"<text x='12' y='{(height - bottom) / 2}' transform='rotate(-90 12 {(height - bottom) / 2})' "
           f"text-anchor='middle'>loss</text>"
           # the student's under the reference's: where they agree the reference still shows, thin, inside it
           f"{line(yours, '#cf222e', WIDE)}{line(reference_losses, '#24292f', THIN)}"
           f"<text x='{width - 10}' y='20' text-anchor='end' fill='#24292f'>{html.escape('reference solution')}</text>"
           f"<text x='{width - 10}' y='34' text-anchor='end' fill='#cf222e'>your loop</text></svg>")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
