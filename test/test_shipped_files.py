"""Files the repository ships for the classic recipes (data/pairs.txt), found from any folder."""
import os

import pytest

from toolkit.evaluation import lfw
import train_softmax
import train_tripletloss
import validate_on_lfw
from conftest import ROOT, shared_path
from toolkit.cli import arguments
from toolkit.training import runs

PAIRS = os.path.join(ROOT, 'data', 'pairs.txt')


def test_pairs_file_is_the_lfw_view2_protocol():
    with open(PAIRS) as handle:
        assert handle.readline().split() == ['10', '300']
    pairs = lfw.read_pairs(PAIRS)
    assert len(pairs) == 6000
    same = [len(pair) == 3 for pair in pairs]
    # Ten folds, each 300 same-person pairs then 300 different-person pairs.
    assert same == ([True] * 300 + [False] * 300) * 10
    assert pairs[0] == ['Abel_Pacheco', '1', '4']


def test_pairs_file_equals_the_shared_lfw_one():
    with open(shared_path('data', 'lfw', 'pairs.txt'), 'rb') as handle:
        assert open(PAIRS, 'rb').read() == handle.read()


def lfw_folder_for_some_pairs(root, pair_indices):
    """Empty image files for the given pairs of data/pairs.txt (only their presence counts)."""
    pairs = lfw.read_pairs(PAIRS)
    for index in pair_indices:
        pair = pairs[index]
        names = [(pair[0], pair[1]), (pair[0], pair[2])] if len(pair) == 3 else \
            [(pair[0], pair[1]), (pair[2], pair[3])]
        for name, number in names:
            os.makedirs(root / name, exist_ok=True)
            (root / name / ('%s_%04d.png' % (name, int(number)))).touch()
    return str(root)


@pytest.fixture(params=['repository root', 'another folder'])
def working_dir(request, tmp_path, monkeypatch):
    folder = ROOT if request.param == 'repository root' else str(tmp_path / 'elsewhere')
    os.makedirs(folder, exist_ok=True)
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize('script', [train_softmax, train_tripletloss])
def test_training_scripts_find_the_default_pairs_file(tmp_path, working_dir, script):
    lfw_dir = lfw_folder_for_some_pairs(tmp_path / 'lfw', [0, 1, 2, 3, 4, 300, 301, 302, 303, 304])
    args = script.parse_arguments(['--lfw_dir', lfw_dir])
    assert args.lfw_pairs == 'data/pairs.txt'
    paths, issame = runs.read_lfw(arguments.lfw_options(args), print)
    assert issame == [True] * 5 + [False] * 5 and len(paths) == 20


class _Embedded(Exception):
    pass


def test_validate_on_lfw_finds_the_default_pairs_file(tmp_path, working_dir, monkeypatch):
    lfw_dir = lfw_folder_for_some_pairs(tmp_path / 'lfw', range(10))

    def compute_embeddings(args, paths):
        raise _Embedded(paths)

    monkeypatch.setattr(validate_on_lfw, 'compute_embeddings', compute_embeddings)
    args = validate_on_lfw.parse_arguments([lfw_dir, 'MODEL'])
    assert args.lfw_pairs == 'data/pairs.txt'
    with pytest.raises(_Embedded) as reached:
        validate_on_lfw.main(args)
    paths = reached.value.args[0]
    assert len(paths) == 20 and paths[0].endswith(os.path.join('Abel_Pacheco',
                                                               'Abel_Pacheco_0001.png'))
