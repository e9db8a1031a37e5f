"""The pictures grading draws for every submission, encoded directly: they read right and cope with any value."""
import base64
import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from autograder.pictures import MAGMA, difference_heatmap, loss_curves, magma

SVG = "{http://www.w3.org/2000/svg}"


def decoded(uri: str) -> bytes:
    return base64.b64decode(uri.split(",", 1)[1])


def test_the_loss_curve_is_an_svg_of_both_runs_with_a_point_per_step():
    uri = loss_curves([3.3, 3.1, 2.9], [3.3, 3.0, 2.8])
    assert uri.startswith("data:image/svg+xml;base64,")
    svg = ET.fromstring(decoded(uri))
    lines = svg.findall(f"{SVG}polyline")
    # the student's first, wide and light, then the reference's over it, thin: where they agree both show
    assert [line.get("stroke") for line in lines] == ["#cf222e", "#24292f"]
    assert float(lines[0].get("stroke-width")) > float(lines[1].get("stroke-width"))
    assert [len(line.get("points").split()) for line in lines] == [3, 3]
    assert len(svg.findall(f"{SVG}circle")) == 6
    # SVG's y runs down the page: the reference's losses fall, so its points go down.
    ys = [float(p.split(",")[1]) for p in lines[1].get("points").split()]
    assert ys[0] < ys[1] < ys[2]
    texts = [t.text for t in svg.findall(f"{SVG}text")]
    assert {"step", "loss", "reference solution", "your loop"} <= set(texts)


@pytest.mark.parametrize("losses", [[None, float("nan")], [float("inf"), 1e308], [], [3.3] * 10, [-1e300]])
def test_the_loss_curve_leaves_out_what_it_cannot_draw(losses):
    uri = loss_curves(losses, [3.3, 3.0, 2.8])
    svg = ET.fromstring(decoded(uri))
    student = svg.findall(f"{SVG}polyline")[0]
    drawable = [x for x in losses[:3] if x is not None and np.isfinite(x) and abs(x) <= 1000 * 3.3]
    assert len(student.get("points").split()) == len(drawable)
    assert all(np.isfinite(float(v)) for p in student.get("points").split() for v in p.split(","))


def test_the_lectures_200_steps_have_a_readable_axis():
    reference = list(np.linspace(3.3, 2.4, 200))
    svg = ET.fromstring(decoded(loss_curves(reference, reference)))
    steps = [t.text for t in svg.findall(f"{SVG}text") if t.text.isdigit()]
    assert steps == ["1", "50", "100", "150", "200"]  # not 200 labels on top of each other
    assert not svg.findall(f"{SVG}circle")  # nor 400 marks


def test_magma_runs_from_dark_to_bright_through_its_points():
    colours = magma(np.linspace(0, 1, len(MAGMA)))
    assert (colours == MAGMA.astype(np.uint8)).all()
    assert magma(np.array([-5.0, 7.0])).tolist() == [MAGMA[0].tolist(), MAGMA[-1].tolist()]


@pytest.mark.parametrize("values", [np.full((3, 4), np.nan), np.array([[np.inf, 3e38], [0, -1]]), np.zeros((2, 5)),
                                    np.random.default_rng(0).random((32, 64)), np.ones(27)])
def test_the_heatmap_is_a_png_for_any_value(values):
    uri = difference_heatmap("W1", values.astype(np.float32))
    image = Image.open(io.BytesIO(decoded(uri)))
    assert image.format == "PNG" and image.width > values.shape[-1]


def test_an_empty_difference_has_no_heatmap():
    assert difference_heatmap("W1", np.zeros((0, 3), np.float32)) is None


def test_a_loss_curve_that_cannot_be_drawn_is_left_out_not_raised():
    assert loss_curves([3.3], []) is None  # no reference steps: nothing to draw against
