"""The repository layout the README promises."""
import os

from conftest import ROOT


def test_top_level_layout():
    for name in ('src', 'contributed', 'data', 'test', 'tmp', 'util', 'requirements.txt',
                 'README.md', 'LICENSE.md'):
        assert os.path.exists(os.path.join(ROOT, name)), name


def test_requirements_are_pinned():
    with open(os.path.join(ROOT, 'requirements.txt')) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith('#')]
    assert any(line.startswith('tensorflow==2.21') for line in lines)
    for line in lines:
        assert '==' in line, line
