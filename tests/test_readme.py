"""The README's recipe block runs as written (embedded digits, about a minute)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_recipe_block():
    assert any("load_digits_ood" in block for block in _python_blocks())


@pytest.mark.slow
def test_readme_recipes_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the recipe saves a file in the working directory
    for block in _python_blocks():
        if "load_digits_ood" in block:  # blocks on embedded data only
            exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    aurocs = dict(re.findall(r"^\s*(.+?)\s+AUROC (\d\.\d+)", out, flags=re.M))
    assert set(aurocs) == {"skood default", "LOF", "IsolationForest"}
    # The default detector well above chance and above IsolationForest on digits.
    assert float(aurocs["skood default"]) > 0.85
    assert float(aurocs["skood default"]) > float(aurocs["IsolationForest"])
    assert (tmp_path / "detector.skood").exists()
