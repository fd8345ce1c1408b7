"""classifier.py and toolkit.recognition.identification: SVM and nearest-neighbour identification of real
LFW faces with a pretrained model, unknown-person rejection, and bad classifier files."""
import os
import pickle
import shutil

import numpy as np
import pytest

import classifier
import lfw_faces
from toolkit.data.folders import ImageClass
from toolkit.errors import FacenetError
from toolkit.recognition import identification

SPLIT_FLAGS = ['--use_split_dataset', '--min_nrof_images_per_class', '8',
               '--nrof_train_images_per_class', '5']


# -- pure helpers ---------------------------------------------------------------------------------

def test_split_per_class_matches_the_classic_global_seed_shuffle():
    dataset = [ImageClass('a', ['a%d' % i for i in range(12)]),
               ImageClass('b', ['b%d' % i for i in range(3)]),
               ImageClass('c', ['c%d' % i for i in range(7)])]
    train, test = identification.split_per_class(dataset, 5, 4, np.random.RandomState(666))
    np.random.seed(666)
    expected = []
    for image_class in (dataset[0], dataset[2]):
        paths = list(image_class.image_paths)
        np.random.shuffle(paths)
        expected.append(paths)
    assert [c.name for c in train] == [c.name for c in test] == ['a', 'c']
    assert [c.image_paths for c in train] == [paths[:4] for paths in expected]
    assert [c.image_paths for c in test] == [paths[4:] for paths in expected]


def test_top_k_accuracy_and_rejection():
    similarity = np.array([[0.9, 0.2, 0.1], [0.3, 0.4, 0.35], [0.1, 0.2, 0.3]])
    ranked = identification.nearest_classes(similarity, 2)
    assert ranked.tolist() == [[0, 1], [1, 2], [2, 1]]
    labels = np.array([0, 2, -1])
    assert identification.top_k_accuracy(ranked, labels, 1) == pytest.approx(1 / 3)
    assert identification.top_k_accuracy(ranked, labels, 2) == pytest.approx(2 / 3)
    distances = identification.similarity_to_distance(similarity.max(axis=1))
    np.testing.assert_allclose(distances, np.sqrt(2 - 2 * np.array([0.9, 0.4, 0.3])))
    predicted = identification.reject_unknown(ranked[:, 0], [0.9, 0.5, 0.2], distances,
                                              probability_threshold=0.3, distance_threshold=1.0)
    assert predicted.tolist() == [0, -1, -1]
    assert identification.class_name(['x', 'y'], -1) == 'Unknown'


def test_labels_are_matched_to_the_classifier_by_name():
    mapping = identification.labels_for_classifier(['B', 'C', 'A'], ['A', 'B'])
    assert mapping.tolist() == [1, -1, 0]


def test_class_similarities_take_the_best_gallery_image_per_class():
    gallery = np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32)
    result = identification.class_similarities(gallery, [0, 0, 1], np.array([[0, 2.0]]), 3)
    np.testing.assert_allclose(result, [[0.8, 1.0, -np.inf]])


def test_bad_classifier_files_give_clear_errors(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('not a pickle')
    with pytest.raises(FacenetError, match='is not a classifier file'):
        identification.load_classifier(str(text))
    wrong = tmp_path / 'dict.pkl'
    wrong.write_bytes(pickle.dumps({'model': 1}))
    with pytest.raises(FacenetError, match=r'\(model, class_names\)'):
        identification.load_classifier(str(wrong))
    with pytest.raises(FacenetError, match='not found'):
        identification.load_classifier(str(tmp_path / 'missing.pkl'))
    rng = np.random.RandomState(0)
    model = identification.train_svc(rng.randn(12, 64), np.arange(12) % 3)
    path = str(tmp_path / 'svc.pkl')
    identification.save_classifier(path, model, ['a', 'b', 'c'])
    with pytest.raises(FacenetError, match='trained on 64-d embeddings but the model gives '
                                           '128-d'):
        identification.load_classifier(path, 128)
    loaded, names = identification.load_classifier(path, 64)
    assert names == ['a', 'b', 'c'] and identification.gallery(loaded)[0].shape == (12, 64)


def test_training_needs_two_classes_with_two_images():
    with pytest.raises(FacenetError, match='at least two classes'):
        identification.train_svc(np.ones((3, 4)), [0, 0, 0])
    with pytest.raises(FacenetError, match='at least two training images'):
        identification.train_svc(np.eye(4), [0, 0, 0, 1])


# -- the script on real faces ---------------------------------------------------------------------

def run(capsys, *argv):
    classifier.main(classifier.parse_arguments([str(arg) for arg in argv]))
    return capsys.readouterr().out


@pytest.fixture(scope='module')
def trained(model_128_graph, tmp_path_factory):
    """An SVM classifier trained on 5 aligned images of each of 4 LFW people."""
    known_dir, _ = lfw_faces.aligned_lfw()
    path = str(tmp_path_factory.mktemp('classifier') / 'lfw4.pkl')
    classifier.main(classifier.parse_arguments(
        ['TRAIN', known_dir, model_128_graph, path] + SPLIT_FLAGS))
    return known_dir, path


def test_train_then_classify_the_held_out_images(trained, model_128_graph, capsys):
    known_dir, path = trained
    with open(path, 'rb') as handle:
        model, class_names = pickle.load(handle)
    assert class_names == ['Colin Powell', 'Junichiro Koizumi', 'Serena Williams', 'Tony Blair']
    assert identification.gallery(model)[0].shape == (20, 128)
    out = run(capsys, 'CLASSIFY', known_dir, model_128_graph, path, *SPLIT_FLAGS)
    lines = out.splitlines()
    assert 'Number of classes: 4' in lines and 'Number of images: 12' in lines
    predictions = [line for line in lines if line[:4].strip().isdigit()]
    assert len(predictions) == 12
    assert predictions[0].startswith('   0  Colin Powell: ')
    assert lines[-1] == 'Accuracy: 1.000'


def test_thresholds_reject_a_person_the_classifier_never_saw(trained, model_128_graph, capsys,
                                                             tmp_path):
    known_dir, path = trained
    _, unknown_dir = lfw_faces.aligned_lfw()
    probes = tmp_path / 'probes'
    shutil.copytree(os.path.join(unknown_dir, lfw_faces.UNKNOWN_PERSON),
                    probes / lfw_faces.UNKNOWN_PERSON)
    shutil.copytree(os.path.join(known_dir, 'Tony_Blair'), probes / 'Tony_Blair')
    out = run(capsys, 'CLASSIFY', known_dir, model_128_graph, path, '--test_data_dir', probes,
              '--distance_threshold', 1.1, '--nearest_neighbor')
    predictions = [line.split('  ', 2)[2] for line in out.splitlines()
                   if line[:4].strip().isdigit()]
    names = [prediction.split(':')[0] for prediction in predictions]
    assert names == ['Tony Blair'] * 8 + ['Unknown'] * 4
    assert 'Unknown people rejected: 4 of 4' in out
    assert 'Top-1 accuracy: 1.000' in out and 'Top-5 accuracy: 1.000' in out
    assert out.splitlines()[-1] == 'Accuracy: 1.000'

    # Without a threshold the SVM names a known person for every face.
    out = run(capsys, 'CLASSIFY', known_dir, model_128_graph, path, '--test_data_dir', probes)
    assert 'Unknown' not in out.split('Testing classifier')[1].split('images show')[0]
    assert out.splitlines()[-1] == 'Accuracy: %.3f' % (8 / 12)


def test_classifier_from_another_model_is_refused(model_128_graph, tmp_path, capsys):
    known_dir, _ = lfw_faces.aligned_lfw()
    rng = np.random.RandomState(1)
    path = str(tmp_path / 'other.pkl')
    identification.save_classifier(path, identification.train_svc(rng.randn(8, 512),
                                                                  np.arange(8) % 2), ['a', 'b'])
    with pytest.raises(FacenetError, match='512-d embeddings but the model gives 128-d'):
        run(capsys, 'CLASSIFY', known_dir, model_128_graph, path)


def test_empty_class_and_bad_file_stop_before_loading_the_model(tmp_path, capsys):
    data_dir = tmp_path / 'people'
    (data_dir / 'empty_person').mkdir(parents=True)
    (data_dir / 'other').mkdir()
    shutil.copy(lfw_faces.raw_lfw_image('Tony_Blair', 1), data_dir / 'other')
    with pytest.raises(FacenetError, match='no images for: empty_person'):
        run(capsys, 'TRAIN', data_dir, 'no-model', tmp_path / 'out.pkl')
    assert not (tmp_path / 'out.pkl').exists()
    junk = tmp_path / 'junk.pkl'
    junk.write_bytes(b'\x00\x01garbage')
    with pytest.raises(FacenetError, match='is not a classifier file'):
        run(capsys, 'CLASSIFY', data_dir, 'no-model', junk)
