"""calculate_filtering_metrics.py and toolkit.data.filtering: distances to class centres, the HDF5
file, and filter_dataset as train_softmax uses it."""
import os
import re
import shutil
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import shared_path

import calculate_filtering_metrics
from toolkit import cli
from toolkit.data.folders import get_dataset
from toolkit.errors import FacenetError
from toolkit.data.filtering import (distances_to_class_centers, filter_dataset, find_threshold,
                                    read_filtering_metrics, streamed_distances_to_class_centers,
                                    write_filtering_metrics)
from toolkit.tf_compat import tf

IMAGE_SIZE = 32


# -- pure numpy -----------------------------------------------------------------------------

def test_distances_to_class_centers_numbers():
    embeddings = [[0, 0], [2, 0], [5, 5], [1, 1], [1, 3], [4, 1]]
    labels = [0, 0, 1, 2, 2, 2]
    distances = distances_to_class_centers(embeddings, labels)
    # class 2 centre is (2, 5/3)
    expected = [1, 1, 0, np.hypot(1, 2 / 3), np.hypot(1, 4 / 3), np.hypot(2, 2 / 3)]
    np.testing.assert_allclose(distances, expected)


@pytest.mark.parametrize('batch_size', [1, 2, 3, 7, 100])
def test_streamed_distances_equal_direct(batch_size):
    rng = np.random.RandomState(3)
    labels = np.repeat(np.arange(6), [1, 4, 2, 7, 1, 5])
    embeddings = rng.randn(len(labels), 5)
    paths = list(range(len(labels)))
    calls = []
    streamed = streamed_distances_to_class_centers(
        lambda batch: embeddings[batch], paths, labels, batch_size,
        progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_allclose(streamed, distances_to_class_centers(embeddings, labels))
    assert calls[-1] == (len(labels), len(labels))


def test_find_threshold():
    distances = np.array([0.1, 0.2, 0.3, 0.4, np.nan])
    assert find_threshold(distances, 100) == pytest.approx(0.4)
    assert find_threshold(distances, 50) == pytest.approx(0.25)
    with pytest.raises(FacenetError, match=r'in \[0, 100\]'):
        find_threshold(distances, 101)


# -- file and filter_dataset ----------------------------------------------------------------

def _fake_dataset(root, sizes):
    for class_index, size in enumerate(sizes):
        class_dir = os.path.join(root, 'person_%d' % class_index)
        os.makedirs(class_dir)
        for image_index in range(size):
            Image.new('RGB', (4, 4)).save(os.path.join(class_dir, 'img_%d.png' % image_index))
    return get_dataset(root)


def _write_metrics_for(dataset, filename, distances):
    image_list = [path for cls in dataset for path in cls.image_paths]
    label_list = [label for label, cls in enumerate(dataset) for _ in cls.image_paths]
    write_filtering_metrics(filename, [cls.name for cls in dataset], image_list, label_list,
                            distances)


def test_round_trip_and_filter(tmp_path):
    dataset = _fake_dataset(str(tmp_path / 'a'), [4, 3, 2])
    filename = str(tmp_path / 'metrics.h5')
    distances = [0.1, 0.2, 0.3, 2.0, 0.1, 0.1, 0.1, 0.5, 0.6]
    _write_metrics_for(dataset, filename, distances)
    with h5py.File(filename, 'r') as handle:
        assert sorted(handle.keys()) == ['class_names', 'distance_to_center', 'image_list',
                                         'label_list']
    metrics = read_filtering_metrics(filename)
    assert metrics.class_names == ['person_0', 'person_1', 'person_2']
    assert metrics.image_list[3].endswith(os.path.join('person_0', 'img_3.png'))
    assert list(metrics.label_list) == [0, 0, 0, 0, 1, 1, 1, 2, 2]

    # 100th percentile keeps everything; the input dataset is never modified.
    kept = filter_dataset(dataset, filename, 100.0, 0)
    assert [len(cls) for cls in kept] == [4, 3, 2]
    # 80th percentile of the distances is 0.54: drops img_3 of person_0 and img_1 of person_2.
    kept = filter_dataset(dataset, filename, 80.0, 0)
    assert [len(cls) for cls in kept] == [3, 3, 1]
    assert all('img_3' not in p for p in kept[0].image_paths)
    assert [len(cls) for cls in dataset] == [4, 3, 2]
    # ... and person_2, now with one image, goes with min_nrof_images_per_class=2.
    kept = filter_dataset(dataset, filename, 80.0, 2)
    assert [cls.name for cls in kept] == ['person_0', 'person_1']


def test_filter_matches_a_moved_dataset_and_classic_bytes(tmp_path):
    dataset = _fake_dataset(str(tmp_path / 'a'), [3, 3])
    filename = str(tmp_path / 'classic.h5')
    # As the classic script wrote it under Python 2: fixed-length byte strings, no class_names.
    with h5py.File(filename, 'w') as handle:
        handle.create_dataset('image_list', data=np.array(
            [p.encode() for cls in dataset for p in cls.image_paths], dtype='S'))
        handle.create_dataset('label_list', data=[0, 0, 0, 1, 1, 1])
        handle.create_dataset('distance_to_center', data=[0.1, 0.1, 0.9, 0.1, 0.1, 0.1])
    moved = str(tmp_path / 'moved')
    shutil.copytree(str(tmp_path / 'a'), moved)
    kept = filter_dataset(get_dataset(moved), filename, 90.0, 0)
    assert [os.path.basename(p) for p in kept[0].image_paths] == ['img_0.png', 'img_1.png']
    assert kept[0].image_paths[0].startswith(moved)
    assert read_filtering_metrics(filename).class_names == []


def test_filter_rejects_bad_files(tmp_path):
    dataset = _fake_dataset(str(tmp_path / 'a'), [2])
    other = _fake_dataset(str(tmp_path / 'b'), [0, 0, 2])
    filename = str(tmp_path / 'metrics.h5')
    _write_metrics_for(other, filename, [0.1, 0.2])
    with pytest.raises(FacenetError, match='describes none of the dataset images'):
        filter_dataset(dataset, filename, 90.0, 0)
    with pytest.raises(FacenetError, match='not found'):
        filter_dataset(dataset, str(tmp_path / 'missing.h5'), 90.0, 0)
    text_file = tmp_path / 'not_hdf5.h5'
    text_file.write_text('hello')
    with pytest.raises(FacenetError, match='cannot read filtering metrics file'):
        filter_dataset(dataset, str(text_file), 90.0, 0)
    with h5py.File(str(tmp_path / 'other.h5'), 'w') as handle:
        handle.create_dataset('latent_vars', data=[1.0])
    with pytest.raises(FacenetError, match='not a filtering metrics file'):
        filter_dataset(dataset, str(tmp_path / 'other.h5'), 90.0, 0)


# -- the script, with a tiny frozen model ---------------------------------------------------

@pytest.fixture(scope='module')
def colour_model(tmp_path_factory):
    """A frozen graph whose embedding is the normalised mean colour of the input."""
    path = str(tmp_path_factory.mktemp('model') / 'colour.pb')
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 3], name='input')
        phase_train = tf.placeholder_with_default(False, [], name='phase_train')
        mean_colour = tf.reduce_mean(images, axis=[1, 2])
        mean_colour = tf.cond(phase_train, lambda: mean_colour, lambda: mean_colour)
        tf.nn.l2_normalize(mean_colour, 1, 1e-10, name='embeddings')
        with open(path, 'wb') as handle:
            handle.write(graph.as_graph_def().SerializeToString())
    return path


def _colour_dataset(root):
    """person_a: five reddish faces and one blue outlier; person_b: four greenish faces."""
    rng = np.random.RandomState(0)
    colours = {'person_a': [(200, 40, 40)] * 5 + [(30, 40, 220)],
               'person_b': [(40, 190, 50)] * 4}
    for name, class_colours in colours.items():
        os.makedirs(os.path.join(root, name))
        for index, colour in enumerate(class_colours):
            pixels = np.clip(np.array(colour) + rng.randint(-25, 26, (40, 40, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(
                os.path.join(root, name, '%s_%04d.png' % (name, index + 1)))
    return root


def test_script_round_trip_with_train_softmax_filter(tmp_path, colour_model, capsys):
    data_dir = _colour_dataset(str(tmp_path / 'faces'))
    filename = str(tmp_path / 'filtering.h5')
    args = calculate_filtering_metrics.parse_arguments(
        [data_dir, colour_model, filename, '--image_size', str(IMAGE_SIZE), '--batch_size', '4'])
    assert args.batch_size == 4 and not args.use_fixed_image_standardization
    assert calculate_filtering_metrics.main(args) == 0
    assert re.search(r'^Embedding: 10 images in \d+:\d\d ', capsys.readouterr().err, re.M)

    metrics = read_filtering_metrics(filename)
    assert metrics.class_names == ['person_a', 'person_b']
    assert len(metrics.image_list) == 10 and list(metrics.label_list) == [0] * 6 + [1] * 4
    outlier = int(np.argmax(metrics.distance_to_center))
    assert os.path.basename(metrics.image_list[outlier]) == 'person_a_0006.png'
    assert metrics.distance_to_center[outlier] > 0.5
    assert np.all(np.delete(metrics.distance_to_center, outlier) < 0.4)

    kept = filter_dataset(get_dataset(data_dir), filename, 95.0, 0)
    assert [len(cls) for cls in kept] == [5, 4]
    assert 'person_a_0006.png' not in ' '.join(kept[0].image_paths)


def test_script_errors_are_one_line(tmp_path, colour_model, capsys):
    data_dir = _colour_dataset(str(tmp_path / 'faces'))
    output = str(tmp_path / 'out.h5')
    for argv, message in [
            ([data_dir, str(tmp_path / 'missing.pb'), output], 'model not found'),
            ([str(tmp_path / 'nowhere'), colour_model, output], 'dataset directory not found'),
            ([data_dir, colour_model, output], 'the model takes 32x32 images, got 160x160 (set --image_size 32)')]:
        with pytest.raises(SystemExit) as exit_info:
            cli.run(calculate_filtering_metrics.main, calculate_filtering_metrics.parse_arguments,
                    argv)
        assert exit_info.value.code == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith('error: ') and message in err and '\n' not in err
    assert not os.path.exists(output)


def test_real_model_finds_a_mislabelled_lfw_face(tmp_path, model_128_graph, capsys):
    """With the pretrained 128-d model, a Tony Blair photo filed under Colin Powell is the
    image farthest from its class centre, and a 95th-percentile filter drops it."""
    lfw_dir = shared_path('data', 'lfw', 'images_deepfunneled')
    data_dir = tmp_path / 'faces'
    files = {'Colin_Powell': [('Colin_Powell', n) for n in range(1, 6)] + [('Tony_Blair', 7)],
             'Serena_Williams': [('Serena_Williams', n) for n in range(1, 6)],
             'Tony_Blair': [('Tony_Blair', n) for n in range(1, 6)]}
    for folder, images in files.items():
        (data_dir / folder).mkdir(parents=True)
        for name, number in images:
            with Image.open(os.path.join(lfw_dir, name, '%s_%04d.jpg' % (name, number))) as image:
                # The deep-funneled faces sit in the middle: a centre crop is a usable alignment.
                image.crop((45, 45, 205, 205)).save(
                    str(data_dir / folder / ('%s_%04d.png' % (name, number))))
    filename = str(tmp_path / 'filtering.h5')
    args = calculate_filtering_metrics.parse_arguments([str(data_dir), model_128_graph, filename])
    assert calculate_filtering_metrics.main(args) == 0
    metrics = read_filtering_metrics(filename)
    distances = metrics.distance_to_center
    colin = metrics.label_list == 0
    farthest = metrics.image_list[int(np.argmax(np.where(colin, distances, -1)))]
    assert os.path.basename(farthest) == 'Tony_Blair_0007.png'
    others = distances[np.array([not p.endswith('Tony_Blair_0007.png') for p in metrics.image_list])]
    assert distances.max() > others.max()
    kept = filter_dataset(get_dataset(str(data_dir)), filename, 95.0, 0)
    assert [len(cls) for cls in kept] == [5, 5, 5]
    print('distance of the mislabelled face %.3f, largest other %.3f'
          % (distances.max(), others.max()), file=sys.stderr)
