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
