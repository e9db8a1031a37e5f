"""The settings that decide a grade: validated once in the parent, one line on a mistake, recorded, and part of
what "unchanged" means when a class is graded again."""
import json

import pytest
from courses import ASSIGNMENT, COURSE_SEED, cli, gradebook_scores, make_course, submit
from submissions import EXERCISES, all_right

from autograder.assignments.backprop_ninja import EXERCISES as TABLE
from autograder.assignments.backprop_ninja import PUBLIC_SEED
from autograder.checks import DEFAULT_HIDDEN_SEED
from autograder.sandbox import Limits
from autograder.settings import GradingSettings, SettingsError, differences, seed_identity


def test_a_seed_is_named_by_an_identity_that_does_not_print_it():
    assert seed_identity(4242) == seed_identity(4242) != seed_identity(4243)
    assert "4242" not in seed_identity(4242) and len(seed_identity(4242)) == 9


@pytest.mark.parametrize("given", ["abc", "-5", "1.5", "", "²", "１２", str(2**63), str(PUBLIC_SEED)])
def test_a_seed_that_cannot_be_used_is_refused_by_name(given, monkeypatch):
    monkeypatch.setenv("BACKPROP_NINJA_HIDDEN_SEED", given or " ")
    with pytest.raises(SettingsError, match="--hidden-seed"):
        GradingSettings.resolve(given, Limits())
    if given:
        with pytest.raises(SettingsError, match="BACKPROP_NINJA_HIDDEN_SEED"):
            GradingSettings.resolve(None, Limits())


def test_a_class_needs_a_seed_named_and_the_published_one_only_when_said(monkeypatch):
    monkeypatch.delenv("BACKPROP_NINJA_HIDDEN_SEED", raising=False)
    with pytest.raises(SettingsError, match="published"):
        GradingSettings.resolve(None, Limits(), for_class=True)
    assert GradingSettings.resolve(None, Limits(), for_class=False).hidden_seed == DEFAULT_HIDDEN_SEED  # self-check
    assert GradingSettings.resolve(str(DEFAULT_HIDDEN_SEED), Limits(), for_class=True).hidden_seed == DEFAULT_HIDDEN_SEED
    monkeypatch.setenv("BACKPROP_NINJA_HIDDEN_SEED", "77")
    settings = GradingSettings.resolve(None, Limits(), for_class=True)
    assert settings.hidden_seed == 77 and settings.seed_source == "BACKPROP_NINJA_HIDDEN_SEED"
    assert GradingSettings.resolve("78", Limits(), for_class=True).hidden_seed == 78  # the option wins


def test_differences_name_each_setting_that_changed():
    old = GradingSettings(1, Limits(), "strict", "g1", "d1").record()
    assert differences(old, old) == []
    assert differences(old, GradingSettings(2, Limits(timeout=5), "strict", "g1", "d1").record()) == [
        "hidden seed", "timeout"]  # fmt: skip
    assert differences(old, GradingSettings(1, Limits(memory_gib=2), "local", "g2", "d2").record()) == [
        "memory limit", "credit mode", "grader version", "dataset"]  # fmt: skip
    assert differences(None, old) == ["settings not recorded then"]  # a result from before settings: regraded


@pytest.fixture(scope="module")
def one_course(tmp_path_factory):
    """One collected class for every refused setting: each must leave it as it found it."""
    course = make_course(tmp_path_factory.mktemp("refused"))
    submit(course, "alice")
    return course


@pytest.mark.parametrize(
    "args, env, message",
    [([], {"BACKPROP_NINJA_HIDDEN_SEED": "abc"}, "BACKPROP_NINJA_HIDDEN_SEED must be a whole number"),
     (["--hidden-seed", str(PUBLIC_SEED)], {}, "--hidden-seed: the hidden seed must differ from the public seed"),
     ([], {"BACKPROP_NINJA_HIDDEN_SEED": None}, "set the class's hidden seed with --hidden-seed N"),
     (["--memory", "0.0001"], {}, "--memory must be at least 0.1 GiB"),
     (["--timeout", "soon"], {}, "argument --timeout: give a number")],
)  # fmt: skip
def test_grade_refuses_a_bad_setting_in_one_line_before_any_worker_and_records_nothing(one_course, args, env, message):
    course = one_course
    run = cli("grade", ASSIGNMENT, *args, cwd=course, env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert "Graded" not in run.stdout and not (course / "results").exists() and gradebook_scores(course) == {}


def test_check_names_the_variable_of_a_bad_seed():
    run = cli("check", EXERCISES, env={"BACKPROP_NINJA_HIDDEN_SEED": "abc"})
    assert run.returncode == 2
    assert run.stderr.strip() == ("backprop-ninja: BACKPROP_NINJA_HIDDEN_SEED must be a whole number from 0 to "
                                  f"{2**63 - 1}, not 'abc'")  # fmt: skip


def test_a_rerun_grades_what_changed_the_notebook_or_the_settings_and_says_which(tmp_path):
    course = make_course(tmp_path)
    submit(course, "alice")
    submit(course, "dave")
    first = cli("grade", ASSIGNMENT, "--jobs", "1", cwd=course)
    assert "Graded 2, skipped 0" in first.stdout, first.stderr
    assert f"hidden seed {seed_identity(COURSE_SEED)} (from BACKPROP_NINJA_HIDDEN_SEED)" in first.stdout
    assert str(COURSE_SEED) not in first.stdout + first.stderr
    recorded = json.loads((course / "results" / ASSIGNMENT / "alice.json").read_text())["settings"]
    assert recorded["hidden_seed"] == seed_identity(COURSE_SEED) and recorded["timeout"] == 60
    assert "Graded 0, skipped 2" in cli("grade", ASSIGNMENT, "--jobs", "1", cwd=course).stdout
    all_right(course / "submitted" / "dave" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")  # dave hands in a new version
    assert "Graded 1, skipped 1" in cli("grade", ASSIGNMENT, "--jobs", "1", "--course-dir", course).stdout
    assert gradebook_scores(course)["dave"] == {f"{ex.id}_check": ex.max_score for ex in TABLE}
    other_seed = cli("grade", ASSIGNMENT, "--jobs", "1", "--hidden-seed", "999", cwd=course)
    assert "Graded 2 (2 of them graded before under other settings: hidden seed), skipped 0" in other_seed.stdout
    assert json.loads((course / "results" / ASSIGNMENT / "alice.json").read_text())["settings"]["hidden_seed"] == \
        seed_identity(999)  # fmt: skip
    limits = cli("grade", ASSIGNMENT, "--jobs", "1", "--hidden-seed", "999", "--timeout", "30", "--credit", "local",
                 cwd=course)  # fmt: skip
    assert "Graded 2 (2 of them graded before under other settings: timeout, credit mode), skipped 0" in limits.stdout
    report = cli("report", ASSIGNMENT, cwd=course)
    assert f"hidden seed {seed_identity(999)} (all 2)" in report.stdout
    forced = cli("grade", ASSIGNMENT, "--jobs", "1", "--hidden-seed", "999", "--timeout", "30", "--credit", "local",
                 "--force", cwd=course)  # fmt: skip
    assert "Graded 2, skipped 0" in forced.stdout
    # an internal error (a worker that refused or failed) leaves no grade to keep: graded again, without --force
    result = course / "results" / ASSIGNMENT / "alice.json"
    failed = {**json.loads(result.read_text()), "internal_error": "SettingsMismatch: this worker runs grader 0.0.1"}
    result.write_text(json.dumps(failed))
    again = cli("grade", ASSIGNMENT, "--jobs", "1", "--hidden-seed", "999", "--timeout", "30", "--credit", "local",
                cwd=course)  # fmt: skip
    assert "Graded 1, skipped 1" in again.stdout and json.loads(result.read_text())["internal_error"] is None
