"""Classifier files and MTCNN weight files are read without running anything they name."""
import os
import pickle
import warnings

import numpy as np
import pytest

from align import detect_face
from toolkit import safe_load
from toolkit.recognition import identification
from toolkit.errors import FacenetError


class _RunsCommand:
    """Pickles as a call of os.system: what a crafted file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, ('touch %s' % self.marker,)


def _embeddings():
    rng = np.random.RandomState(0)
    return rng.randn(12, 8).astype(np.float32), np.arange(12) % 3


@pytest.mark.parametrize('protocol', [0, 2, pickle.HIGHEST_PROTOCOL])
def test_crafted_classifier_file_runs_nothing(tmp_path, protocol):
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.pkl'
    model = identification.train_nearest_neighbor(*_embeddings())
    path.write_bytes(pickle.dumps((model, ['a', _RunsCommand(marker)]), protocol=protocol))
    assert pickle.loads(path.read_bytes()) is not None and marker.exists()  # it is armed
    marker.unlink()
    with pytest.raises(FacenetError, match='names posix.system.*nothing in it was run'):
        identification.load_classifier(str(path))
    assert not marker.exists()


@pytest.mark.parametrize('protocol', [0, 2, pickle.HIGHEST_PROTOCOL])
def test_our_classifier_files_load_with_every_protocol(tmp_path, protocol):
    embeddings, labels = _embeddings()
    for model in (identification.train_svc(embeddings, labels),
                  identification.train_nearest_neighbor(embeddings, labels)):
        path = tmp_path / 'model.pkl'
        path.write_bytes(pickle.dumps((model, ['a', 'b', 'c']), protocol=protocol))
        loaded, names = identification.load_classifier(str(path), 8)
        assert names == ['a', 'b', 'c']
        np.testing.assert_array_equal(loaded.predict_proba(embeddings),
                                      model.predict_proba(embeddings))
        np.testing.assert_array_equal(identification.gallery(loaded)[0], embeddings)


def test_classic_svc_classifier_file_loads(tmp_path):
    """The classic classifier.py pickled ``(SVC(kernel='linear', probability=True), names)``."""
    from sklearn.svm import SVC
    embeddings, labels = _embeddings()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # probability=True is deprecated
        model = SVC(kernel='linear', probability=True).fit(embeddings, labels)
    path = tmp_path / 'classic.pkl'
    with open(path, 'wb') as handle:
        pickle.dump((model, ['a', 'b', 'c']), handle)
    loaded, names = identification.load_classifier(str(path), 8)
    assert names == ['a', 'b', 'c'] and identification.gallery(loaded) is None
    np.testing.assert_array_equal(loaded.predict_proba(embeddings), model.predict_proba(embeddings))


def test_other_estimator_types_are_refused(tmp_path):
    from sklearn.linear_model import LogisticRegression
    embeddings, labels = _embeddings()
    path = tmp_path / 'logistic.pkl'
    path.write_bytes(pickle.dumps((LogisticRegression().fit(embeddings, labels), ['a', 'b', 'c'])))
    with pytest.raises(FacenetError, match='LogisticRegression, which is not a type'):
        identification.load_classifier(str(path))
    path.write_bytes(pickle.dumps((1, 2))[:-3])  # truncated
    with pytest.raises(FacenetError, match='is not a classifier file'):
        identification.load_classifier(str(path))


def _write_weights(folder, layers):
    for filename in detect_face.CLASSIC_WEIGHT_FILES.values():
        np.save(folder / filename, np.array(layers, dtype=object), allow_pickle=True)


def test_crafted_mtcnn_weight_file_runs_nothing(tmp_path):
    marker = tmp_path / 'ran'
    _write_weights(tmp_path, {'conv1': {'weights': _RunsCommand(marker)}})
    with pytest.raises(FacenetError, match='det1.npy.*posix.system.*nothing in it was run'):
        detect_face.load_classic_weights(str(tmp_path))
    assert not marker.exists()


def test_classic_weight_dicts_load(tmp_path):
    weights = {'conv1': {'weights': np.arange(6, dtype=np.float32).reshape(1, 2, 3),
                         'biases': np.ones(3, np.float32)}}
    _write_weights(tmp_path, weights)
    loaded = detect_face.load_classic_weights(str(tmp_path))
    np.testing.assert_array_equal(loaded['pnet']['conv1']['weights'], weights['conv1']['weights'])
    # A plain array, or a pickled object that is no dict of layers, is refused.
    np.save(tmp_path / 'det1.npy', np.zeros(3))
    with pytest.raises(FacenetError, match='plain float64 array'):
        detect_face.load_classic_weights(str(tmp_path))
    np.save(tmp_path / 'det1.npy', np.array([1, 'x'], dtype=object))
    with pytest.raises(FacenetError, match='not one pickled object'):
        detect_face.load_classic_weights(str(tmp_path))


def test_shipped_classic_weights_go_through_the_restricted_loader(monkeypatch):
    from conftest import shared_path
    folder = shared_path('data', 'mtcnn')
    monkeypatch.setattr(np, 'load', None)  # the loader must not fall back on np.load
    layers = safe_load.load_pickled_npy(os.path.join(folder, 'det3.npy'))
    assert layers['conv6-3']['weights'].shape == (256, 10)
