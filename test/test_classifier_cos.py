"""classifier_cos.py, the HW_face fork's retrieval step, on real LFW people with the 128-d
pretrained model (the fork's fine-tuning recipe on LFW people: test_train_softmax)."""
import os

import numpy as np
import pytest

import classifier_cos
import lfw_faces
from toolkit.recognition import identification

NROF_TRAIN_IMAGES = 5


def test_class_mean_and_nearest_image_rankings_differ_as_defined():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.8, 0.6]])
    labels = [0, 0, 1, 1]
    probe = np.array([[1.0, 0.05]])
    unit_probe = probe[0] / np.linalg.norm(probe)
    nearest = identification.class_similarities(gallery, labels, probe, 3, 'nearest')
    mean = identification.class_similarities(gallery, labels, probe, 3, 'mean')
    np.testing.assert_allclose(nearest[0, :2], [unit_probe[0], unit_probe @ [0.8, 0.6]])
    np.testing.assert_allclose(mean[0, :2], [unit_probe @ [0.5 ** 0.5, 0.5 ** 0.5],
                                             unit_probe @ [0.8, 0.6]])
    assert nearest[0, 2] == mean[0, 2] == -np.inf  # class 2 has no gallery image
    assert identification.nearest_classes(nearest, 1)[0, 0] == 0
    assert identification.nearest_classes(mean, 1)[0, 0] == 1


@pytest.fixture(scope='module')
def lfw_split(tmp_path_factory):
    """Training and test folders (links) of four LFW people, the test one with a stranger."""
    known_dir, unknown_dir = lfw_faces.aligned_lfw()
    root = tmp_path_factory.mktemp('lfw_split')
    for name in lfw_faces.KNOWN_PEOPLE:
        files = sorted(os.listdir(os.path.join(known_dir, name)))
        for part, names in (('train', files[:NROF_TRAIN_IMAGES]),
                            ('test', files[NROF_TRAIN_IMAGES:])):
            os.makedirs(root / part / name)
            for file_name in names:
                os.symlink(os.path.join(known_dir, name, file_name), root / part / name / file_name)
    with_stranger = root / 'test_with_stranger'
    os.makedirs(with_stranger)
    for name in lfw_faces.KNOWN_PEOPLE:
        os.symlink(root / 'test' / name, with_stranger / name)
    os.symlink(os.path.join(unknown_dir, lfw_faces.UNKNOWN_PERSON),
               with_stranger / lfw_faces.UNKNOWN_PERSON)
    return root


def test_classifier_cos_ranks_lfw_people_and_writes_predictions(lfw_split, model_128_graph,
                                                                tmp_path, monkeypatch, capsys):
    output = tmp_path / 'out' / 'predictions_cos.txt'
    cached = {}
    compute = classifier_cos.compute_embeddings

    def compute_once(args, paths):  # the second run reuses the embeddings of the first
        key = tuple(paths)
        if key not in cached:
            cached[key] = compute(args, paths)
        return cached[key]

    monkeypatch.setattr(classifier_cos, 'compute_embeddings', compute_once)
    nrof_known = len(lfw_faces.KNOWN_PEOPLE) * (lfw_faces.NROF_IMAGES - NROF_TRAIN_IMAGES)
    nrof_test = nrof_known + lfw_faces.NROF_UNKNOWN_IMAGES
    for ranking in ('mean', 'nearest'):
        classifier_cos.main(classifier_cos.parse_arguments([
            str(lfw_split / 'train'), str(lfw_split / 'test_with_stranger'),
            model_128_graph,
            '--batch_size', '256', '--image_size', '160', '--ranking', ranking,
            '--output_file', str(output)]))
        out = capsys.readouterr().out
        assert 'Test set: 5 classes, %d images' % nrof_test in out
        assert '%d test images show people the training set lacks' % lfw_faces.NROF_UNKNOWN_IMAGES in out
        # Every known face is recognised; the stranger's images are misses.
        assert 'Top-1 accuracy: %.3f' % (nrof_known / nrof_test) in out
        assert 'Top-5 accuracy: %.3f' % (nrof_known / nrof_test) in out
        lines = [line.split('\t') for line in output.read_text().splitlines()]
        assert len(lines) == nrof_test and not [n for n in os.listdir(output.parent) if n != output.name]
        for fields in lines:
            person = os.path.basename(os.path.dirname(fields[0]))
            assert len(fields) == 1 + len(lfw_faces.KNOWN_PEOPLE)  # 4 classes: all ranked
            assert sorted(fields[1:]) == sorted(lfw_faces.KNOWN_PEOPLE)
            if person != lfw_faces.UNKNOWN_PERSON:
                assert fields[1] == person
    assert len(cached) == 1
