"""The comparison alone: cmp's columns plus shape, dtype and NaN."""
import numpy as np
import pytest

from autograder.checks import Check
from autograder.compare import compare

CHECK = Check("bngain", 1)
REF = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 64)


def meta(array, dtype="torch.float32"):
    return {"kind": "tensor", "dtype": dtype, "shape": list(array.shape)}


def test_identical_is_exact_and_passes():
    c = compare(CHECK, meta(REF), REF.copy(), REF)
    assert c.exact and c.approx and c.shape_ok and c.dtype_ok and c.passed and c.maxdiff == 0


def test_within_tolerance_is_approximate_not_exact_and_passes():
    student = REF + np.float32(1e-9)
    c = compare(CHECK, meta(student), student, REF)
    assert not c.exact and c.approx and c.passed
    assert 0 < c.maxdiff < 1e-8


def test_outside_tolerance_fails_with_maxdiff():
    student = REF * 1.01
    c = compare(CHECK, meta(student), student, REF)
    assert not c.approx and not c.passed
    assert c.maxdiff == pytest.approx(0.01, rel=1e-3)
    assert "differs from autograd by up to 0.01" in c.problem


def test_broadcastable_wrong_shape_fails_although_cmp_would_pass():
    student = REF.reshape(64)
    # the lecture's cmp: torch.allclose broadcasts a [64] against a [1, 64] and says True
    assert np.allclose(student, REF)
    c = compare(CHECK, meta(student), student, REF)
    assert not c.shape_ok and not c.passed
    assert "cmp would broadcast" in c.problem


def test_wrong_dtype_fails_even_with_right_values():
    student = REF.astype(np.float64)
    c = compare(CHECK, meta(student, "torch.float64"), student, REF)
    assert c.approx and not c.dtype_ok and not c.passed and not c.exact
    assert "torch.float64" in c.problem


def test_nan_fails():
    student = REF.copy()
    student[0, 3] = np.nan
    c = compare(CHECK, meta(student), student, REF)
    assert not c.passed and "NaN" in c.problem


def test_missing_and_non_tensor():
    assert compare(CHECK, None, None, REF).problem == "dbngain was not assigned"
    c = compare(CHECK, {"kind": "other", "type": "list"}, None, REF)
    assert not c.passed and c.problem == "dbngain is not a tensor (it is a list)"


def test_per_check_tolerance_overrides():
    small = REF * np.float32(1e-4)  # gradient-sized values, where atol rather than rtol decides
    student = small + np.float32(5e-8)
    assert not compare(CHECK, meta(student), student, small).passed
    assert compare(Check("bngain", 1, atol=1e-7), meta(student), student, small).passed


def test_rounding_on_an_entry_that_is_zero_in_exact_arithmetic_is_not_a_mistake():
    """db1 is exactly zero, but float32 computes it from large terms: autograd's own answer is 3e-9 off zero and a
    right answer summed in another order 2e-8, past allclose's atol. It passes; a real mistake there does not."""
    truth = np.zeros(64)
    reference = np.full(64, 3e-9, dtype=np.float32)  # autograd in float32
    right = np.full(64, -2e-8, dtype=np.float32)
    c = compare(Check("b1", 1), meta(right), right, reference, truth)
    assert not c.approx and c.passed and c.problem is None  # the cmp column says False; the verdict knows why
    wrong = np.full(64, 1e-4, dtype=np.float32)
    c = compare(Check("b1", 1), meta(wrong), wrong, reference, truth)
    assert not c.passed and c.problem == "db1 differs from autograd by up to 0.0001"


def test_without_a_float64_truth_near_zero_entries_get_float32_steps_of_room():
    """A local reference (localise.py) has no float64 twin: it stands for the truth, and its entries near zero
    (under 3% of its largest) get NOISE_FACTOR float32 steps at its scale; the others allclose as it is."""
    reference = np.array([[1.0, 0.5, 1e-4, 0.0]], dtype=np.float32)
    rounded = reference + np.array([[0, 0, 3e-6, -3e-6]], dtype=np.float32)  # past atol, far inside 300 steps
    assert compare(CHECK, meta(rounded), rounded, reference).passed
    slipped = reference * np.float32(1.0001)  # a real slip on the large entries: past rtol
    assert not compare(CHECK, meta(slipped), slipped, reference).passed
