"""layout.py on verdicts made by hand: what leads, which rows stay open, what folds, for every shape of result."""
from autograder.assignments.backprop_ninja import EXERCISE_BY_ID
from autograder.layout import FOLLOWS, NOT_REACHED, PASSING, layout
from autograder.render import exercise_html, exercise_text
from autograder.results import HIDDEN_FAILURE, CheckResult, ExerciseResult

EX1 = EXERCISE_BY_ID["ex1"]
NAMES = [c.name for c in EX1.checks]


def check(name, passed=True, local=None, assigned=True, message="", hint=None, shape_ok=True):
    return CheckResult(name, passed, passed, passed, 0.0 if passed else 0.5, shape_ok, True, float(passed), 1.0,
                       message, passed if local is None else local, hint, assigned)  # fmt: skip


def exercise(checks, status="partial", message="", stopped=False, hidden_judged=True):
    return ExerciseResult("ex1", EX1.title, sum(c.points for c in checks), 26, status, message, checks=checks,
                          stopped=stopped, hidden_judged=hidden_judged)  # fmt: skip


def shape(view):
    return [c.name for c in view.rows], [(f.kind, [c.name for c in f.checks]) for f in view.folds]


def test_one_slip_leads_with_its_row_and_folds_what_follows():
    checks = [check(n) for n in NAMES[:3]] + [check(NAMES[3], False, message="dcounts_sum differs", hint="the sign")]
    checks += [check(n, False, local=True, message=f"d{n} differs") for n in NAMES[4:]]
    view = layout(exercise(checks))
    assert shape(view) == (["counts_sum"], [(FOLLOWS, NAMES[4:]), (PASSING, NAMES[:3])])
    assert view.lead == ("Start at dcounts_sum: it is the first gradient that is wrong given your own upstream "
                         "gradients. 22 more only follow from dcounts_sum.")  # fmt: skip
    assert view.folds[0].summary.startswith("22 more follow from dcounts_sum (each is right given")
    assert view.to_dict()["rows"] == [{"check": "counts_sum", "mistake": "the sign"}]


def test_two_slips_name_both_and_each_follower_its_nearest_root():
    checks = [check(n) for n in NAMES]
    checks[0] = check(NAMES[0], False, message="x", hint="n = 32 times too large")
    checks[1] = check(NAMES[1], False, local=True, message="y")
    checks[5] = check(NAMES[5], False, message="z")
    checks[6] = check(NAMES[6], False, local=True, message="w")
    view = layout(exercise(checks))
    assert [c.name for c in view.rows] == ["logprobs", "norm_logits"]
    assert view.folds[0].summary.startswith("2 more follow from the mistakes above")
    assert view.lead.endswith("1 other mistake: dnorm_logits.")


def test_code_that_stopped_says_so_once_and_folds_what_it_never_reached():
    checks = [check(n) for n in NAMES[:12]] + [check(n, False, assigned=False, message=f"d{n} was not assigned: your "
                                                     "code stopped at line 16") for n in NAMES[12:]]  # fmt: skip
    ex = exercise(checks, message="your code stopped at line 16 with NameError: x; the gradients assigned before it "
                                  "are graded", stopped=True)  # fmt: skip
    view = layout(ex)
    assert shape(view) == ([], [(NOT_REACHED, NAMES[12:]), (PASSING, NAMES[:12])])
    assert view.lead.startswith("Your code stopped at line 16") and view.lead.endswith(".")
    text = exercise_text(ex)
    assert "not set" not in text and "WRONG" not in text and "FAIL" not in text and "root cause" not in text
    assert "▸ 14 were not reached (your code stopped before setting them): dbngain" in text


def test_nothing_set_before_the_stop_or_a_limit_is_one_sentence():
    unset = [check(n, False, assigned=False, message=f"d{n} was not assigned") for n in NAMES]
    for ex in (exercise(unset, "failed", "your code stopped at line 2 with NotImplementedError, before it set any "
                                         "gradient", stopped=True),
               exercise([check(n, False, assigned=False, message="timed out after 60 s") for n in NAMES], "failed",
                        "timed out after 60 s"),
               exercise(unset, "not answered", "not answered yet: replace `raise NotImplementedError()`")):  # fmt: skip
        view = layout(ex)
        assert shape(view) == ([], [])
        assert exercise_text(ex).splitlines()[1:] == [view.lead, ""]
        assert "<table" not in exercise_html(ex) and "<details" not in exercise_html(ex)


def test_a_gradient_never_set_without_a_stop_is_a_mistake_not_a_wrong_shape():
    checks = [check(n) for n in NAMES]
    checks[2] = check(NAMES[2], False, assigned=False, shape_ok=False,
                      message="dcounts_sum_inv was not assigned: did you mean dcounts_suminv?")  # fmt: skip
    ex = exercise(checks)
    view = layout(ex)
    assert [c.name for c in view.rows] == ["counts_sum_inv"] and view.to_dict()["rows"][0]["mistake"] == "not assigned"
    row = next(line for line in exercise_text(ex).splitlines() if line.startswith("counts_sum_inv "))
    assert row.split()[4:7] == ["not", "set", "FAIL"]
    assert view.lead == "dcounts_sum_inv was not assigned: did you mean dcounts_suminv?"


def test_right_on_the_values_seen_only_reads_the_same_in_lead_and_row():
    checks = [check(n) for n in NAMES]
    checks[7] = check(NAMES[7], False, message=HIDDEN_FAILURE)
    view = layout(exercise(checks, message="right on the values you see but not on the hidden ones: compute every "
                                           "gradient from the tensors you are given"))  # fmt: skip
    assert view.to_dict()["rows"] == [{"check": "logits", "mistake": "right on the values you see, wrong on hidden ones"}]
    assert view.lead.startswith("Right on the values you see but not on the hidden ones")


def test_all_passing_says_which_seeds_it_was_judged_on():
    checks = [check(n) for n in NAMES]
    assert layout(exercise(checks, "passed")).lead == ("Every gradient matches autograd, on the values you see and "
                                                       "on hidden ones.")  # fmt: skip
    selfcheck = layout(exercise(checks, "passed", hidden_judged=False))
    assert selfcheck.lead == "Every gradient matches autograd, on the values you see (your grade also checks hidden ones)."
    assert shape(selfcheck) == ([], [(PASSING, NAMES)]) and selfcheck.folds[0].summary.startswith("all 26 pass")


def test_in_a_graph_a_gradient_follows_only_from_a_mistake_above_it():
    # micrograd's neuron, o = tanh(x1*w1 + x2*w2 + b), from the output back: dx2w2 wrong and dw1 wrong, dx2 and dw2
    # right given dx2w2. dw1 comes after dx2w2 in the order but is not computed from it: it is a root of its own,
    # and the followers' root is dx2w2, not the nearest failing row before them (dw1 is a leaf).
    names = "o n b x1w1x2w2 x2w2 x1w1 w1 x2 w2 x1".split()
    upstream = {"n": ["o"], "b": ["n"], "x1w1x2w2": ["n"], "x1w1": ["x1w1x2w2"], "x2w2": ["x1w1x2w2"],
                "x1": ["x1w1"], "w1": ["x1w1"], "x2": ["x2w2"], "w2": ["x2w2"]}
    checks = {n: check(n) for n in names}
    checks["x2w2"] = check("x2w2", False, message="dx2w2 differs", hint="a typed number")
    checks["w1"] = check("w1", False, message="dw1 differs")
    checks["x2"] = check("x2", False, local=True, message="dx2 differs")
    checks["w2"] = check("w2", False, local=True, message="dw2 differs")
    ex = exercise(list(checks.values()))
    ex.upstream = upstream
    view = layout(ex)
    assert shape(view)[0] == ["x2w2", "w1"]
    assert view.folds[0].summary.startswith("2 more follow from dx2w2 ")
    assert view.lead.endswith("2 more only follow from dx2w2. 1 other mistake: dw1.")


def test_a_gradient_never_set_is_not_answered_not_a_mistake_of_its_own():
    # an exercise whose checks are each their own (micrograd's Exercise 3): one wrong, two never set
    checks = [check("gradf", False, message="gradf differs", hint="the power rule"),
              check("numerical_grad", False, assigned=False, message="numerical_grad was not assigned"),
              check("numerical_grad2", False, assigned=False, message="numerical_grad2 was not assigned")]
    ex = exercise(checks)
    ex.localised = False
    assert layout(ex).lead == "dgradf is wrong: the power rule; not answered yet: dnumerical_grad, dnumerical_grad2."
    ex = exercise([check("gradf"), *checks[1:]])
    ex.localised = False
    assert layout(ex).lead == "Not answered yet: dnumerical_grad, dnumerical_grad2."


def test_in_a_localised_exercise_one_mistake_beside_unset_gradients_is_said_as_it_is():
    # Exercise 1 of micrograd: dc typed as 0, da never set, nothing follows: no "start at", and one word for unset
    names = "L d f e c a b".split()
    checks = {n: check(n) for n in names}
    checks["c"] = check("c", False, message="dc differs", hint="dc is 0, as if c did not change the output")
    checks["a"] = check("a", False, assigned=False, message="da was not assigned")
    ex = exercise(list(checks.values()))
    ex.localised = True
    assert layout(ex).lead == "dc is wrong: dc is 0, as if c did not change the output; not answered yet: da."
    # one follower: said in the singular
    checks["a"] = check("a", False, local=True, message="da differs")
    ex = exercise(list(checks.values()))
    ex.localised, ex.upstream = True, {"a": ["e"], "e": ["d"], "c": ["d"]}
    checks["e"] = check("e", False, message="de differs")
    ex = exercise(list(checks.values()))
    ex.localised, ex.upstream = True, {"a": ["e"], "e": ["d"], "c": ["d"]}
    assert layout(ex).lead == ("Start at de: it is the first gradient that is wrong given your own upstream "
                               "gradients. 1 more only follows from de. 1 other mistake: dc.")


def test_a_check_built_of_failed_parts_follows_from_them_in_words_that_count_them():
    # micrograd's Exercise 4: graphs built of the ops and backward(), each checked alone above
    upstream = {"graphs": ["add", "mul", "backward"]}
    # (labels made by hand here carry the d of a gradient's name)
    for failing, source, lead_tail in ((["add"], "dadd (it uses it)", "dgraphs only fails because it uses it."),
                                       (["add", "mul"], "the mistakes above (it uses them)",
                                        "dgraphs only fails because of them.")):
        checks = [check(n, n not in failing, message="" if n not in failing else f"{n} differs", hint=f"{n} slip")
                  for n in ("add", "mul", "backward")]
        checks.append(check("graphs", False, local=True, message="graphs differs", hint="these graphs use ..."))
        ex = exercise(checks)
        ex.localised, ex.upstream = False, upstream
        view = layout(ex)
        assert view.folds[0].summary.startswith(f"1 more follows from {source}: dgraphs"), view.folds[0].summary
        assert view.lead.endswith(lead_tail), view.lead
