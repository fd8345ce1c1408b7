"""compare.py, align.face_crop and toolkit.recognition.faces on real LFW photos with a pretrained model."""
import numpy as np
import pytest
from PIL import Image

import compare
import lfw_faces
from align import face_crop
from toolkit.errors import FacenetError
from toolkit.recognition import faces


def test_margin_box_grows_clips_and_truncates():
    box = face_crop.margin_box([10.7, 5.2, 50.9, 60.1, 0.99], 44, 100, 120)
    assert box.tolist() == [0, 0, 72, 82]
    box = face_crop.margin_box([40.6, 30.2, 80.9, 70.1], 10, 100, 120)
    assert box.tolist() == [35, 25, 85, 75]
    box = face_crop.margin_box([100, 90, 130, 110], 20, 100, 120)
    assert box.tolist() == [90, 80, 120, 100]


def test_crop_face_resizes_the_margin_box():
    img = np.zeros((100, 120, 3), np.uint8)
    img[25:75, 35:85] = 200
    patch, box = face_crop.crop_face(img, [40.6, 30.2, 80.9, 70.1], 10, 160)
    assert box.tolist() == [35, 25, 85, 75] and patch.shape == (160, 160, 3)
    assert patch.min() == patch.max() == 200
    patch, _ = face_crop.crop_face(img, [130, 10, 150, 20], 0, 160)
    assert patch is None


def test_main_face_prefers_a_large_central_face():
    boxes = np.array([[0, 0, 40, 40], [45, 35, 75, 65], [50, 40, 70, 60]])
    assert face_crop.main_face_index(boxes, 100, 120) == 1
    assert face_crop.main_face_index(boxes[[0, 2]], 100, 120) == 1


def test_distance_matrix_and_standardize():
    embeddings = np.array([[1.0, 0], [0, 1.0], [0.6, 0.8]])
    distances = faces.distance_matrix(embeddings)
    np.testing.assert_allclose(distances[0], [0, np.sqrt(2), np.sqrt(0.8)])
    np.testing.assert_allclose(distances, distances.T)
    images = np.random.RandomState(0).randint(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    prewhitened = faces.standardize(images)
    assert abs(prewhitened[1].mean()) < 1e-5 and abs(prewhitened[1].std() - 1) < 1e-3
    np.testing.assert_allclose(faces.standardize(images, True), (images - 127.5) / 128)


def test_compare_prints_the_classic_matrix_and_names_bad_files(model_128_graph, tmp_path, capsys):
    blank = tmp_path / 'blank.png'
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    notes = tmp_path / 'notes.jpg'
    notes.write_text('not an image')
    images = [lfw_faces.raw_lfw_image('Tony_Blair', 1), str(blank),
              lfw_faces.raw_lfw_image('Tony_Blair', 2), str(notes),
              lfw_faces.raw_lfw_image('Colin_Powell', 1)]
    compare.main(compare.parse_arguments([model_128_graph] + images))
    out = capsys.readouterr().out
    assert "can't use %s: no face detected" % blank in out
    assert "can't use %s: cannot read image" % notes in out
    lines = out[out.index('Images:'):].splitlines()
    assert lines[1:4] == ['0: ' + images[0], '1: ' + images[2], '2: ' + images[4]]
    assert lines[4:6] == ['', 'Distance matrix']
    assert lines[6] == '    ' + '    0     ' + '    1     ' + '    2     '
    rows = [[float(value) for value in line.split()[1:]] for line in lines[7:10]]
    assert [line[:3] for line in lines[7:10]] == ['0  ', '1  ', '2  ']
    assert rows[0][0] == rows[1][1] == rows[2][2] == 0.0
    assert rows[0][1] == rows[1][0]
    # Two photos of Tony Blair are closer than either is to Colin Powell.
    assert rows[0][1] < 1.0 < min(rows[0][2], rows[1][2])


def test_compare_without_any_face_is_an_error(tmp_path):
    blank = tmp_path / 'blank.png'
    Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(blank)
    with pytest.raises(FacenetError, match='no face found in any of the 1 images'):
        compare.main(compare.parse_arguments(['no-model', str(blank)]))
