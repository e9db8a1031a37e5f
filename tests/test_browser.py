"""The student's JupyterLab in a real browser: open the filled-in notebook, Run All, see the self-check tables.

Debian's chromium, driven by Playwright (never `playwright install`: nothing is downloaded). JupyterLab runs as
`make lab` runs it (student_lab/ on the config path) on loopback, with a token, in a temporary copy of the
exercises, and with its own config, data and runtime directories so nothing in the user's home is read or written.
Screenshots go to test-artifacts/browser/.

    python tests/test_browser.py docs/selfcheck.png   # the README's screenshot: Exercise 1 with one slip in it
"""
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from submissions import ROOT, all_right, answer, solution_region, write_submission

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
NOTEBOOK = "backprop_ninja/backprop_ninja.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(.ci/run installs it: apt-get install chromium)")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(root: Path, home: Path):
    """JupyterLab on loopback serving `root`; yields its base URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(ROOT / "student_lab"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "IPYTHONDIR": str(home / "ipython"), "MPLCONFIGDIR": str(home / "matplotlib"),
           "BACKPROP_NINJA_EXCHANGE": str(home / "exchange"),  # make lab's LAB_EXCHANGE
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    (home / "exchange").mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--ServerApp.allow_root=True"]  # CI containers run as root  # fmt: skip
    # No "get notified about Jupyter news?" toast over the notebook (it would also ask the network).
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false"}')
    url = f"http://127.0.0.1:{port}"
    with open(home / "jupyterlab.log", "w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # As long as the server lives: on a loaded machine it has taken over 30 s to answer. The cap only ends a
        # server that hangs.
        started, cap = time.monotonic(), 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > started + cap:
                    raise RuntimeError(f"JupyterLab did not start:\n{(home / 'jupyterlab.log').read_text()}")
                time.sleep(0.2)
        print(f"JupyterLab answered after {time.monotonic() - started:.1f} s")
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def browser_page(profile: Path, height: int = 900):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": height})  # fmt: skip
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def run_all_cells(page, url: str, token: str):
    """Open the notebook, wait for its kernel, then Run > Run All Cells from the menu bar, as a student would."""
    page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=30_000)
    # the status bar says "<kernel name> | Idle" once the kernel is connected ("No Kernel | Initializing" before)
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"backprop-ninja\) \| Idle")).wait_for(timeout=30_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def check_outputs(page, timeout_ms=120_000):
    """The four self-check tables, once the last has rendered: exercise id -> status."""
    page.locator(".backprop-ninja-exercise[data-exercise='ex4']").wait_for(timeout=timeout_ms)
    tables = page.locator(".backprop-ninja-exercise")
    return {tables.nth(i).get_attribute("data-exercise"): tables.nth(i).get_attribute("data-status")
            for i in range(tables.count())}  # fmt: skip


def test_run_all_in_jupyterlab_shows_every_self_check_passing(tmp_path):
    all_right(tmp_path / "exercises" / NOTEBOOK)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_lab(tmp_path / "exercises", tmp_path) as (url, token), browser_page(tmp_path / "profile") as page:
        # the student's lab: the assignment list and validate, none of the instructor's tools
        lab_page = page.request.get(f"{url}/lab?token={token}").text()
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab_page, re.S).group(1))
        disabled = set(config["disabledExtensions"])
        assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                "@jupyter/nbgrader:course-list"} <= disabled  # fmt: skip
        assert not {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment"} & disabled
        assert page.request.get(f"{url}/formgrader?token={token}").status == 404
        # the assignment list reads the lab's exchange (make lab's LAB_EXCHANGE): no "does not exist" there
        listed = page.request.get(f"{url}/courses?token={token}").json()
        assert listed["success"], listed
        run_all_cells(page, url, token)
        try:
            statuses = check_outputs(page)
        finally:
            page.screenshot(path=ARTIFACTS / "run-all.png")
        assert statuses == {"ex1": "passed", "ex2": "passed", "ex3": "passed", "ex4": "passed"}
        ex1 = page.locator(".backprop-ninja-exercise[data-exercise='ex1']")
        ex1.scroll_into_view_if_needed()
        ex1.screenshot(path=ARTIFACTS / "ex1-self-check.png")
        # the verdict leads; the 26 passing rows are folded into one line until the student opens it
        assert ex1.locator("p.lead").inner_text() == ("Every gradient matches autograd, on the values you see (your "
                                                      "grade also checks hidden ones).")  # fmt: skip
        passing = ex1.locator("details[data-fold='passing']")
        assert passing.locator("summary").inner_text().startswith("all 26 pass")
        assert not passing.locator("tr[data-check]").first.is_visible()
        passing.locator("summary").click()
        assert sum(row.is_visible() for row in passing.locator("tr[data-check]").all()) == 26
        assert passing.locator("td", has_text="pass").count() == 26
        # nbgrader's validate button is there for the student
        assert page.locator(".jp-Toolbar button, .jp-Toolbar jp-button", has_text="Validate").count() >= 1


def test_validate_in_jupyterlab_shows_each_exercise_score(tmp_path):
    """The student presses nbgrader's Validate: the dialog names each exercise short of full marks with its score,
    and says which are not answered yet (nbgrader alone says "Partial credit; passed some but not all")."""
    write_submission(tmp_path / "exercises" / NOTEBOOK, ex1=solution_region("ex1"), ex3=solution_region("ex3"),
                     ex4=answer("ex4", ("dbnbias = dhpreact.sum(0, keepdim=True)", "dbnbias = dhpreact.sum(0)")))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_lab(tmp_path / "exercises", tmp_path) as (url, token), browser_page(tmp_path / "profile") as page:
        page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
        page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"backprop-ninja\) \| Idle")).wait_for(timeout=30_000)
        page.locator(".jp-Toolbar button, .jp-Toolbar jp-button", has_text="Validate").first.click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        try:
            dialog.wait_for(timeout=180_000)
        finally:
            page.screenshot(path=ARTIFACTS / "validate.png")
        text = dialog.inner_text()
        assert "Exercise 2: 0/6 points (not answered)" in text
        assert re.search(r"Exercise 4: \d+/14 points \(partial\); start at dbnbias", text), text
        assert "Exercise 1:" not in text and "Exercise 3:" not in text and "Partial credit" not in text


def screenshot_for_readme(target: Path):
    """Exercise 1 with tanh's derivative taken at the pre-activation: root cause, hint and heatmap on screen."""
    import tempfile

    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        slip = answer("ex1", ("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh"))
        right = {ex: solution_region(ex) for ex in ("ex2", "ex3", "ex4")}
        write_submission(tmp / "exercises" / NOTEBOOK, ex1=slip, **right)
        with running_lab(tmp / "exercises", tmp) as (url, token), browser_page(tmp / "profile", 1150) as page:
            run_all_cells(page, url, token)
            check_outputs(page)
            page.locator(".backprop-ninja-exercise[data-exercise='ex1']").evaluate("e => e.scrollIntoView()")
            page.screenshot(path=tmp / "shot.png")
        # a palette PNG: a fraction of the size, and a screenshot of a table loses nothing by it
        Image.open(tmp / "shot.png").convert("RGB").quantize(colors=64).save(target, optimize=True)


if __name__ == "__main__":
    screenshot_for_readme(Path(sys.argv[1]))


def test_make_lab_runs_as_root_with_the_learners_options_and_an_exchange(tmp_path):
    # What `make lab` would run (make -n): as root, --allow-root; LAB_ARGS passed on; the exchange the assignment
    # list reads, made when missing.
    run = subprocess.run(["make", "-n", "lab", "LAB_ARGS=--no-browser --port 8899", f"LAB_EXCHANGE={tmp_path / 'x'}"],
                         cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    command = run.stdout.replace("\\\n", " ")
    assert "--no-browser --port 8899" in command and f"BACKPROP_NINJA_EXCHANGE={tmp_path / 'x'}" in command
    assert ("--allow-root" in command) == (os.getuid() == 0)
    assert f"mkdir -p {tmp_path / 'x'}" in command
