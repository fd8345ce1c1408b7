"""The experiments kept in tmp/: dataset read speed, the MTCNN debug visualiser and the LFW
invariance test."""
import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, shared_path
from toolkit.tf_compat import tf


def _load(name):
    spec = importlib.util.spec_from_file_location('tmp_' + name,
                                                  os.path.join(ROOT, 'tmp', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dataset_read_speed = _load('dataset_read_speed')
mtcnn_debug = _load('mtcnn_debug')
invariance = _load('test_invariance_on_lfw')


# -- dataset_read_speed ---------------------------------------------------------------------

def test_dataset_read_speed(tmp_path, capsys):
    for person in ('a', 'b'):
        (tmp_path / person).mkdir()
        for index in range(3):
            Image.new('RGB', (30, 30), (index * 40, 0, 0)).save(
                str(tmp_path / person / ('%d.png' % index)))
    (tmp_path / 'a' / 'notes.txt').write_text('not an image')
    args = dataset_read_speed.parse_arguments([str(tmp_path), '--progress_every', '4'])
    assert dataset_read_speed.main(args) == 0
    out = capsys.readouterr().out
    assert 'File 4/6' in out and 'File 6/6' in out
    assert 'Read 6 files' in out


# -- mtcnn_debug ----------------------------------------------------------------------------

def test_draw_detections_marks_box_and_landmarks():
    image = np.zeros((50, 60, 3), np.uint8)
    boxes = np.array([[10.0, 5.0, 40.0, 45.0, 0.99]])
    points = np.array([[20, 30, 25, 20, 30, 15, 15, 25, 35, 35]], dtype=float).T
    drawn = mtcnn_debug.draw_detections(image, boxes, points)
    assert drawn.shape == image.shape and not drawn.any(axis=2)[0, 0]
    assert tuple(drawn[25, 10]) == mtcnn_debug.BOX_COLOR  # left edge of the box
    assert tuple(drawn[45, 25]) == mtcnn_debug.BOX_COLOR  # bottom edge
    assert tuple(drawn[15, 20]) == mtcnn_debug.LANDMARK_COLOR  # left eye
    assert tuple(drawn[35, 30]) == mtcnn_debug.LANDMARK_COLOR  # right mouth corner
    assert not image.any()  # the input is left alone


def test_mtcnn_debug_on_an_lfw_image(tmp_path, capsys):
    path = shared_path('data', 'lfw', 'images_deepfunneled', 'Tony_Blair', 'Tony_Blair_0001.jpg')
    output = str(tmp_path / 'faces.png')
    assert mtcnn_debug.main(mtcnn_debug.parse_arguments([path, output])) == 0
    out = capsys.readouterr().out
    assert out.startswith('1 face(s) in') and 'score 1.0000' in out
    with Image.open(output) as image:
        drawn = np.asarray(image.convert('RGB'))
    assert drawn.shape == (250, 250, 3)
    red = np.all(drawn == mtcnn_debug.BOX_COLOR, axis=2)
    columns = np.flatnonzero(red.sum(axis=0) > 60)  # the box's vertical edges
    assert columns.min() > 70 and columns.max() < 210  # the face in the middle of the photo


# -- LFW invariance -------------------------------------------------------------------------

def test_invariance_transforms():
    assert list(invariance.sweep(21, 3)[[0, 10, 20]]) == [-30, 0, 30]
    np.testing.assert_allclose(invariance.sweep(3, 0.05, center=1.0), [0.95, 1.0, 1.05])
    image = np.arange(10 * 10 * 3, dtype=np.uint8).reshape(10, 10, 3)
    centre = image[3:7, 3:7]
    np.testing.assert_array_equal(invariance.translate_images(image[None], (0, 0), 4)[0], centre)
    np.testing.assert_array_equal(invariance.translate_images(image[None], (2, -1), 4)[0],
                                  image[2:6, 5:9])
    np.testing.assert_array_equal(invariance.rotate_images(image[None], 0, 4)[0], centre)
    np.testing.assert_array_equal(invariance.scale_images(image[None], 1.0, 4)[0], centre)
    small = invariance.scale_images(image[None], 0.3, 6)[0]  # 3x3 face padded into 6x6
    assert small.shape == (6, 6, 3) and not small[0].any() and small[2:5, 2:5].any()
    rotated = invariance.rotate_images(np.full((9, 9, 3), 200, np.uint8)[None], 45, 9)[0]
    assert rotated[0, 0, 0] == 0 and rotated[4, 4, 0] == 200  # corners turned out of view


def _mean_colour_model(path, size):
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, size, size, 3], name='input')
        tf.placeholder_with_default(False, [], name='phase_train')
        tf.nn.l2_normalize(tf.reduce_mean(images, axis=[1, 2]), 1, 1e-10, name='embeddings')
        with open(path, 'wb') as handle:
            handle.write(graph.as_graph_def().SerializeToString())
    return path


def test_invariance_on_lfw_pairs(tmp_path, capsys):
    lfw_dir = shared_path('data', 'lfw', 'images_deepfunneled')
    with open(shared_path('data', 'lfw', 'pairs.txt')) as handle:
        lines = handle.read().splitlines()
    # Five same-person and five different-person pairs of the first fold, as two folds.
    pairs = tmp_path / 'pairs.txt'
    pairs.write_text('\n'.join(['2 5'] + lines[1:6] + lines[301:306]) + '\n')
    model = _mean_colour_model(str(tmp_path / 'colour.pb'), 32)
    output_dir = str(tmp_path / 'results')
    args = invariance.parse_arguments([
        '--model_file', model, '--lfw_dir', lfw_dir, '--lfw_pairs', str(pairs),
        '--orig_image_size', '40', '--nrof_offsets', '3', '--nrof_angles', '3',
        '--nrof_scales', '3', '--lfw_nrof_folds', '2', '--batch_size', '8',
        '--output_dir', output_dir])
    assert invariance.main(args) == 0
    assert sorted(os.listdir(output_dir)) == [
        'invariance_rotation.png', 'invariance_rotation.txt', 'invariance_scale.png',
        'invariance_scale.txt', 'invariance_translation.png',
        'invariance_translation_horizontal.txt', 'invariance_translation_vertical.txt']
    table = np.loadtxt(os.path.join(output_dir, 'invariance_rotation.txt'))
    np.testing.assert_allclose(table[:, 0], [-3, 0, 3])
    assert np.all((table[:, 1] >= 0) & (table[:, 1] <= 1))
    horizontal = np.loadtxt(os.path.join(output_dir, 'invariance_translation_horizontal.txt'))
    vertical = np.loadtxt(os.path.join(output_dir, 'invariance_translation_vertical.txt'))
    assert horizontal[1, 1] == vertical[1, 1]  # no shift is the same test both ways
    out = capsys.readouterr().out
    assert 'Hoffset: -3.000  Accuracy:' in out and 'Scale: 1.050  Accuracy:' in out


def test_invariance_bad_input_is_one_line(tmp_path, capsys):
    from toolkit import cli
    with pytest.raises(SystemExit) as exit_info:
        cli.run(invariance.main, invariance.parse_arguments,
                ['--model_file', 'x.pb', '--lfw_pairs', str(tmp_path / 'missing.txt')])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == ('error: pairs file not found: %s'
                                               % (tmp_path / 'missing.txt'))
