"""The reference: autograd's gradients of every atom, checked against loss.backward and finite differences."""
import numpy as np
import torch

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, lecture
from autograder.assignments.backprop_ninja.reference import autograd_gradients, make_problem


def small_problem(words, seed=0):
    (Xtr, Ytr), _, _ = lecture.split_dataset(words)
    return make_problem(seed, Xtr, Ytr), Xtr, Ytr


def test_reference_equals_loss_backward_with_retained_grads(small_words):
    problem, _, _ = small_problem(small_words.words)
    params = {k: v.clone().requires_grad_(True) for k, v in problem.params.items()}
    atoms = lecture.forward(**params, Xb=problem.Xb, Yb=problem.Yb)
    for t in vars(atoms).values():
        t.retain_grad()
    atoms.loss.backward()
    for name, t in list(vars(atoms).items()) + list(params.items()):
        if name != "loss":
            assert np.array_equal(problem.grads[name], t.grad.numpy()), name
    # every gradient Exercise 1 asks for: 19 atoms and 7 parameters
    assert set(problem.grads) == {c.name for c in EXERCISE_BY_ID["ex1"].checks}


def test_reference_matches_finite_differences_in_float64(small_words):
    problem, _, _ = small_problem(small_words.words, seed=3)
    params = {k: v.double() for k, v in problem.params.items()}
    Xb, Yb = problem.Xb[:8], problem.Yb[:8]  # a small net: 8 examples
    grads = autograd_gradients(params, Xb, Yb)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for name, p in params.items():
        for flat in rng.choice(p.numel(), size=min(5, p.numel()), replace=False):
            idx = np.unravel_index(flat, p.shape)
            plus, minus = p.clone(), p.clone()
            plus[idx] += eps
            minus[idx] -= eps
            loss = lambda q: lecture.forward(**{**params, name: q}, Xb=Xb, Yb=Yb).loss.item()  # noqa: E731
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert abs(numeric - grads[name][idx]) < 1e-6 + 1e-5 * abs(numeric), (name, idx)


def test_seeds_give_different_problems(small_words):
    a, _, _ = small_problem(small_words.words, seed=1)
    b, _, _ = small_problem(small_words.words, seed=2)
    assert not np.allclose(a.grads["logits"], b.grads["logits"])
    again, _, _ = small_problem(small_words.words, seed=1)
    assert np.array_equal(a.grads["C"], again.grads["C"])  # every draw is seeded
    assert torch.equal(a.params["bngain"], again.params["bngain"])


def test_the_public_sizes_are_the_lectures_and_the_hidden_ones_differ():
    from autograder.assignments.backprop_ninja import HIDDEN_SIZES, PUBLIC_SIZES, Sizes

    assert PUBLIC_SIZES == Sizes(lecture.batch_size, lecture.n_hidden)
    assert HIDDEN_SIZES.batch_size != PUBLIC_SIZES.batch_size and HIDDEN_SIZES.n_hidden != PUBLIC_SIZES.n_hidden
