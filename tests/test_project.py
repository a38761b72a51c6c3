"""The project's contract with its users: the README's commands exist and CI runs the test command."""

import json
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


ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def _notebook_kernelspecs() -> set[tuple[str, str]]:
    import json

    return {
        (spec["name"], spec["display_name"])
        for spec in (
            json.loads(path.read_text())["metadata"]["kernelspec"]
            for path in sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb"))
        )
    }


def test_make_lab_sets_up_jupyterlab_in_the_venv_without_the_news_prompt_and_with_the_notebooks_kernel():
    makefile = (PATHS.root / "Makefile").read_text()
    recipe = re.search(r"^\$\(LAB_STAMP\): \$\(STAMP\)\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe, "Makefile lacks the $(LAB_STAMP) step"
    steps = recipe.group(1)
    assert re.search(rf'jupyter labextension disable --level=sys_prefix "{re.escape(ANNOUNCEMENTS)}"', steps)
    kernel = re.search(r"^KERNEL := (\S+)$", makefile, flags=re.M).group(1)
    install = re.search(
        r'-m ipykernel install --sys-prefix --name \$\(KERNEL\) --display-name "([^"]+)"', steps
    )
    assert install, "the $(LAB_STAMP) step does not install the notebooks' kernelspec into the venv"
    assert _notebook_kernelspecs() == {(kernel, install.group(1))}  # exactly the kernel the notebooks name
    for target in ("lab", "env"):
        assert re.search(rf"^{target}:.*\$\(LAB_STAMP\)", makefile, flags=re.M), (
            f"`{target}` skips $(LAB_STAMP)"
        )


def test_a_venv_set_up_by_make_env_disables_the_news_prompt_and_runs_the_kernel_from_itself():
    import json
    import os
    import sys
    from pathlib import Path

    import pytest

    prefix = Path(sys.prefix)
    if not (prefix / ".tfcourse-lab").exists():
        pytest.skip(f"{prefix} was not set up by `make env` / `make lab` (no .tfcourse-lab stamp)")
    page_config = json.loads((prefix / "etc/jupyter/labconfig/page_config.json").read_text())
    assert page_config["disabledExtensions"].get(ANNOUNCEMENTS) is True
    for name, display_name in _notebook_kernelspecs():
        spec = json.loads((prefix / "share/jupyter/kernels" / name / "kernel.json").read_text())
        assert spec["display_name"] == display_name
        assert os.path.samefile(spec["argv"][0], sys.executable)


def test_readme_results_table_is_generated_from_the_committed_record():
    """The README's full-profile table is exactly what results/full.json gives (no drift)."""
    from tfcourse.build import record

    assert record.RECORD_PATH.is_file(), "results/full.json is missing: run `make record`"
    full = json.loads(record.RECORD_PATH.read_text())
    assert full["notebooks"], "results/full.json records no notebook"
    assert all(e["commit"] and e["date"] for e in full["notebooks"].values())
    assert not record.update_readme(check=True), "README's table is stale: run `python -m tfcourse readme`"
