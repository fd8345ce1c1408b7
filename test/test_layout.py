"""The repository layout the README promises, used as a user uses it."""
import glob
import os
import re

from conftest import ROOT
from toolkit.evaluation import lfw
from toolkit.training.learning_rate import read_learning_rate_schedule

SCRIPT_FOLDERS = ('src', 'src/align', 'src/generative', 'contributed', 'util', 'tmp')


def read(relative):
    with open(os.path.join(ROOT, relative), encoding='utf-8') as handle:
        return handle.read()


def scripts():
    """Every file that runs as a script, relative to the repository root."""
    found = []
    for folder in SCRIPT_FOLDERS:
        for path in sorted(glob.glob(os.path.join(ROOT, folder, '*.py'))):
            if "if __name__ == '__main__':" in read(path):
                found.append(os.path.relpath(path, ROOT))
    return found


def test_readme_names_every_script():
    """README.md says what each script does: every script of src/, contributed/, util/, tmp/
    is named there by its path (or by its file name within its folder's section)."""
    readme = read('README.md')
    found = scripts()
    assert len(found) > 25
    missing = [path for path in found
               if path not in readme and os.path.basename(path) not in readme]
    assert missing == []


def test_shipped_data_files_are_read_by_the_toolkit():
    pairs = lfw.read_pairs(os.path.join(ROOT, 'data', 'pairs.txt'))
    assert len(pairs) == 6000
    assert sum(len(pair) == 3 for pair in pairs) == 3000
    schedules = glob.glob(os.path.join(ROOT, 'data', 'learning_rate_*.txt'))
    assert len(schedules) >= 3
    for path in schedules:
        schedule = read_learning_rate_schedule(path)
        assert schedule and schedule[0][0] == 0, path


def test_license_is_mit():
    text = read('LICENSE.md')
    assert 'MIT License' in text and 'Permission is hereby granted, free of charge' in text


def test_requirements_are_pinned():
    lines = [line.strip() for line in read('requirements.txt').splitlines()
             if line.strip() and not line.startswith('#')]
    assert any(line.startswith('tensorflow==2.21') for line in lines)
    for line in lines:
        assert '==' in line, line


def test_code_map_matches_the_tree():
    """src/README.md names existing modules only, and every module of toolkit/, align/ and
    models/ (add a new module to the map when you add it to the tree)."""
    code_map = read('src/README.md')
    assert 'src/README.md' in read('README.md')  # the README links the map
    named = set(re.findall(r'`((?:toolkit|align|models|generative)/[\w/]*\.py)`', code_map))
    assert not [path for path in named if not os.path.isfile(os.path.join(ROOT, 'src', path))]
    tree = {os.path.relpath(path, os.path.join(ROOT, 'src'))
            for package in ('toolkit', 'align', 'models')
            for path in glob.glob(os.path.join(ROOT, 'src', package, '**', '*.py'), recursive=True)
            if not (path.endswith('__init__.py') and package != 'toolkit')}
    tree -= {'toolkit/__init__.py'} | {path for path in tree if path.endswith('__init__.py')
                                       and path != 'toolkit/cli/__init__.py'}
    assert sorted(tree - named) == []
