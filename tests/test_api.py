"""The Python API: the README's example runs as written, and ``import qkspike`` is light."""

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fsdd_test_clips

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_api_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.verilator
def test_the_readme_api_example_runs_as_written():
    fsdd_test_clips()                      # skips, with the reason, without the recordings
    test = doctest.DocTestParser().get_doctest(readme_api_example(), {}, "README", str(README),
                                               0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries >= 8


def test_import_qkspike_needs_neither_torch_nor_amaranth():
    code = ("import sys, qkspike; heavy = [m for m in ('torch', 'amaranth', 'scipy') "
            "if m in sys.modules]; print(heavy, sorted(qkspike.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("[] ") and "classify" in out and "simulate" in out
