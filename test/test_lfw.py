"""LFW protocol: pairs file, image paths, and the classic evaluate() reference numbers."""
import os

import numpy as np
import pytest
from sklearn import metrics

import lfw
from conftest import shared_path
from toolkit.errors import FacenetError


@pytest.fixture(scope='module')
def reference():
    return dict(np.load(shared_path('reference', 'lfw_evaluate.npz')))


@pytest.mark.parametrize('distance_metric', [0, 1])
@pytest.mark.parametrize('subtract_mean', [False, True])
def test_evaluate_reproduces_classic_reference(reference, distance_metric, subtract_mean):
    tpr, fpr, accuracy, val, val_std, far = lfw.evaluate(
        reference['embeddings'], reference['issame'], nrof_folds=10,
        distance_metric=distance_metric, subtract_mean=subtract_mean)
    key = 'dm%d_sm%d_' % (distance_metric, int(subtract_mean))
    np.testing.assert_allclose(accuracy, reference[key + 'accuracy'], rtol=0, atol=1e-9)
    np.testing.assert_allclose(tpr, reference[key + 'tpr'], rtol=0, atol=1e-9)
    np.testing.assert_allclose(fpr, reference[key + 'fpr'], rtol=0, atol=1e-9)
    assert val == pytest.approx(reference[key + 'val'], abs=1e-9)
    assert val_std == pytest.approx(reference[key + 'val_std'], abs=1e-9)
    assert far == pytest.approx(reference[key + 'far'], abs=1e-9)
    assert metrics.auc(fpr, tpr) == pytest.approx(reference[key + 'auc'], abs=1e-9)
    assert tpr.shape == fpr.shape == (400,)
    assert 0.98 < np.mean(accuracy) < 1.0


def _write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)
    return str(path)


def test_read_pairs_skips_header_and_blank_lines(tmp_path):
    path = _write(tmp_path / 'pairs.txt', '10\t300\nAbel_Pacheco\t1\t4\n\nA_B\t1\tC_D\t12\n')
    assert lfw.read_pairs(path) == [['Abel_Pacheco', '1', '4'], ['A_B', '1', 'C_D', '12']]


def test_read_pairs_without_header_keeps_first_pair(tmp_path):
    path = _write(tmp_path / 'pairs.txt', 'Abel_Pacheco 1 4\n')
    assert lfw.read_pairs(path) == [['Abel_Pacheco', '1', '4']]


def test_read_pairs_of_shared_lfw():
    pairs = lfw.read_pairs(shared_path('data', 'lfw', 'pairs.txt'))
    assert len(pairs) == 6000
    assert sum(len(pair) == 3 for pair in pairs) == 3000


@pytest.mark.parametrize('bad_line', ['Abel_Pacheco 1', 'Abel_Pacheco one 4', 'A 1 B 2 C',
                                      'A 1 B x'])
def test_read_pairs_names_file_and_line_of_a_malformed_line(tmp_path, bad_line):
    path = _write(tmp_path / 'pairs.txt', '10 300\nA 1 2\n%s\n' % bad_line)
    with pytest.raises(FacenetError) as error:
        lfw.read_pairs(path)
    assert str(error.value).startswith('%s line 3:' % path)
    assert bad_line in str(error.value)


def test_read_pairs_missing_file(tmp_path):
    with pytest.raises(FacenetError, match='pairs file not found'):
        lfw.read_pairs(str(tmp_path / 'nope.txt'))


@pytest.fixture
def lfw_dir(tmp_path):
    """A tiny LFW layout: Ann has png images 1 and 2, Bob a jpg image 1, Cid nothing."""
    root = tmp_path / 'lfw'
    for name, number, ext in [('Ann', 1, 'png'), ('Ann', 2, 'png'), ('Bob', 1, 'jpg')]:
        os.makedirs(root / name, exist_ok=True)
        (root / name / ('%s_%04d.%s' % (name, number, ext))).write_bytes(b'')
    return str(root)


PAIRS = [['Ann', '1', '2'], ['Ann', '1', 'Bob', '1'], ['Ann', '1', 'Cid', '1'], ['Ann', '1', '3']]


def test_find_pair_paths_counts_missing_images(lfw_dir):
    found = lfw.find_pair_paths(lfw_dir, PAIRS)
    ann1 = os.path.join(lfw_dir, 'Ann', 'Ann_0001.png')
    assert found.paths == [ann1, os.path.join(lfw_dir, 'Ann', 'Ann_0002.png'),
                           ann1, os.path.join(lfw_dir, 'Bob', 'Bob_0001.jpg')]
    assert found.issame == [True, False]
    assert found.nrof_skipped_pairs == 2


def test_get_paths_classic_interface_prints_skipped(lfw_dir, capsys):
    paths, issame = lfw.get_paths(lfw_dir, PAIRS)
    assert len(paths) == 4 and issame == [True, False]
    assert capsys.readouterr().out == 'Skipped 2 image pairs\n'
    paths, _ = lfw.get_paths(lfw_dir, PAIRS[:2], 'png')  # old signature with file_ext
    assert paths[3].endswith('Bob_0001.jpg')
    assert capsys.readouterr().out == ''


def test_get_paths_prefers_given_extension(lfw_dir):
    (open(os.path.join(lfw_dir, 'Ann', 'Ann_0001.jpg'), 'w')).close()
    assert lfw.get_paths(lfw_dir, PAIRS[:1])[0][0].endswith('Ann_0001.png')
    assert lfw.get_paths(lfw_dir, PAIRS[:1], file_ext='jpg')[0][0].endswith('Ann_0001.jpg')


def test_missing_lfw_dir(tmp_path):
    with pytest.raises(FacenetError, match='LFW directory not found'):
        lfw.find_pair_paths(str(tmp_path / 'nope'), PAIRS)
