"""The project's contract with its users: the README's commands exist and CI runs the test command."""

import re

from tfcourse.config import PATHS


def test_readme_setup_is_two_make_commands_and_ci_runs_the_test_one():
    readme = (PATHS.root / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)", setup.split("```bash", 1)[1].split("```", 1)[0], flags=re.M)
    assert commands == ["make lab", "make test"]
    makefile = (PATHS.root / "Makefile").read_text()
    for target in ("lab", "test", "data", "slides", "student", "course"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"Makefile lacks `{target}`"
    ci = (PATHS.root / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


def test_readme_lists_every_notebook():
    readme = (PATHS.root / "README.md").read_text()
    for path in sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{path.name}" in readme, f"{path.name} is missing from the README's notebook map"


def test_no_data_or_weights_are_tracked():
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PATHS.root, capture_output=True, text=True
    ).stdout.split()
    if not tracked:  # not a git checkout (e.g. an sdist)
        return
    heavy = [p for p in tracked if re.search(r"\.(gz|npy|npz|h5|keras|ckpt|index|tfrecord|pb|zip|tar)$", p)]
    assert heavy == []
    assert not any(p.startswith("data/") and p != "data/README.md" for p in tracked)
