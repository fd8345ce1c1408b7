"""Dataset listing, image reading in every mode, and the numpy image transforms."""
import os

import numpy as np
import pytest
from PIL import Image

from toolkit.data import folders
from toolkit.errors import FacenetError
import facenet


def _write_image(path, mode='RGB', size=(20, 16), fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.RandomState(0)
    if mode == 'I;16':
        array = (rng.rand(size[1], size[0]) * 65535).astype(np.uint16)
        Image.fromarray(array).save(path)
        return array
    image = Image.fromarray((rng.rand(size[1], size[0], 3) * 255).astype(np.uint8)).convert(mode)
    image.save(path, fmt)
    return np.asarray(image)


def test_get_dataset_skips_non_image_files_and_sorts(tmp_path):
    root = str(tmp_path)
    _write_image(os.path.join(root, 'bob', 'b.png'))
    _write_image(os.path.join(root, 'bob', 'a.jpg'))
    _write_image(os.path.join(root, 'alice', 'x.png'))
    (tmp_path / 'bob' / '.DS_Store').write_bytes(b'\x00\x01')
    (tmp_path / 'bob' / 'notes.txt').write_text('not an image')
    (tmp_path / 'readme.txt').write_text('top-level file, not a class')
    dataset = folders.get_dataset(root)
    assert [c.name for c in dataset] == ['alice', 'bob']
    assert [os.path.basename(p) for p in dataset[1].image_paths] == ['a.jpg', 'b.png']
    paths, labels = folders.get_image_paths_and_labels(dataset)
    assert labels == [0, 1, 1] and len(paths) == 3
    assert str(dataset[1]) == 'bob, 2 images'


def test_get_dataset_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FacenetError, match='dataset directory not found'):
        folders.get_dataset(str(tmp_path / 'missing'))


@pytest.mark.parametrize('mode', ['L', 'RGBA', 'CMYK', 'P', 'I;16'])
def test_read_rgb_image_converts_every_mode(tmp_path, mode):
    fmt = 'JPEG' if mode == 'CMYK' else None
    path = str(tmp_path / ('img.jpg' if mode == 'CMYK' else 'img.png'))
    source = _write_image(path, mode, fmt=fmt)
    image = folders.read_rgb_image(path)
    assert image.shape == (16, 20, 3) and image.dtype == np.uint8
    if mode == 'L':
        assert np.array_equal(image[:, :, 0], source) and np.array_equal(image[:, :, 2], source)
    if mode == 'I;16':
        assert np.abs(image[:, :, 1].astype(int) - source / 257.0).max() <= 1


def test_read_rgb_image_rejects_truncated_and_non_images(tmp_path):
    path = str(tmp_path / 'face.jpg')
    _write_image(path, size=(64, 64), fmt='JPEG')
    with open(path, 'rb') as handle:
        content = handle.read()
    with open(path, 'wb') as handle:
        handle.write(content[:len(content) // 2])
    with pytest.raises(FacenetError, match='cannot read image'):
        folders.read_rgb_image(path)
    text = tmp_path / 'text.png'
    text.write_text('hello')
    with pytest.raises(FacenetError, match='cannot read image'):
        folders.read_rgb_image(str(text))
    with pytest.raises(FacenetError, match='image not found'):
        folders.read_rgb_image(str(tmp_path / 'missing.png'))


def test_prewhiten_gives_zero_mean_unit_std():
    image = np.random.RandomState(1).rand(10, 10, 3) * 255
    out = folders.prewhiten(image)
    assert abs(out.mean()) < 1e-9 and abs(out.std() - 1) < 1e-9
    flat = folders.prewhiten(np.full((4, 4, 3), 7.0))
    assert np.all(flat == 0)


def test_crop_and_flip():
    image = np.arange(6 * 6 * 3).reshape(6, 6, 3)
    assert np.array_equal(folders.crop(image, False, 4), image[1:5, 1:5])
    rng = np.random.RandomState(3)
    crops = {folders.crop(image, True, 4, rng)[0, 0, 0] for _ in range(50)}
    assert len(crops) > 1
    assert np.array_equal(folders.flip(image, False), image)
    flips = [np.array_equal(folders.flip(image, True, rng), image[:, ::-1]) for _ in range(40)]
    assert 0 < sum(flips) < 40


def test_split_dataset_by_images_keeps_classes_with_enough_images():
    dataset = [folders.ImageClass('a', ['a%d' % i for i in range(10)]),
               folders.ImageClass('b', ['b%d' % i for i in range(2)])]
    train, test = folders.split_dataset(dataset, 0.2, 3, 'SPLIT_IMAGES', np.random.RandomState(0))
    assert [c.name for c in train] == ['a'] and len(train[0]) == 8 and len(test[0]) == 2
    assert not set(train[0].image_paths) & set(test[0].image_paths)
    train, test = folders.split_dataset(dataset * 5, 0.2, 0, 'SPLIT_CLASSES', np.random.RandomState(0))
    assert len(train) == 8 and len(test) == 2
    with pytest.raises(FacenetError):
        folders.split_dataset(dataset, 0.2, 0, 'SPLIT_SOMETHING')


def test_load_data_too_small_image_is_a_clear_error(tmp_path):
    path = str(tmp_path / 'c' / 'small.png')
    _write_image(path, size=(20, 20))
    with pytest.raises(FacenetError, match='smaller than --image_size 32'):
        folders.load_data([path], False, False, 32)
    images = folders.load_data([path], False, False, 16)
    assert images.shape == (1, 16, 16, 3)


def test_facenet_module_keeps_the_classic_names(tmp_path):
    """Each classic ``facenet.*`` name called as the classic scripts called it."""
    root = str(tmp_path / 'faces')
    for person, count in (('ann', 3), ('bob', 2)):
        for i in range(count):
            _write_image(os.path.join(root, person, '%s_%d.png' % (person, i)), size=(24, 20))
    dataset = facenet.get_dataset(root)
    assert [(c.name, len(c)) for c in dataset] == [('ann', 3), ('bob', 2)]
    assert isinstance(dataset[0], facenet.ImageClass)
    paths, labels = facenet.get_image_paths_and_labels(dataset)
    assert labels == [0, 0, 0, 1, 1] and paths[3].endswith(os.path.join('bob', 'bob_0.png'))
    train, test = facenet.split_dataset(dataset, 0.5, 1, 'SPLIT_IMAGES')
    assert [len(c) for c in train] == [1, 1] and [len(c) for c in test] == [2, 1]  # floor

    images = facenet.load_data(paths, False, False, 16)
    assert images.shape == (5, 16, 16, 3)
    expected = facenet.crop(facenet.prewhiten(np.asarray(Image.open(paths[0]))), False, 16)
    np.testing.assert_allclose(images[0], expected, rtol=1e-6)  # classic: prewhiten, then crop
    image = np.arange(6 * 6 * 3, dtype=np.float64).reshape(6, 6, 3)
    np.testing.assert_allclose(facenet.prewhiten(image).mean(), 0, atol=1e-9)
    np.testing.assert_array_equal(facenet.crop(image, False, 4), image[1:5, 1:5])
    np.testing.assert_array_equal(facenet.flip(image, False), image)
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert facenet.to_rgb(gray).shape == (2, 3, 3) and np.all(facenet.to_rgb(gray)[..., 2] == gray)

    embeddings1 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    embeddings2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [-0.6, 0.8]])
    np.testing.assert_allclose(facenet.distance(embeddings1, embeddings2), [0, 2, 0, 1.44])
    issame = np.array([True, False, True, False])  # each of the 2 folds holds both kinds
    tpr, fpr, accuracy = facenet.calculate_roc(np.arange(0, 4, 0.5), embeddings1, embeddings2,
                                               issame, nrof_folds=2)
    assert (tpr[0], tpr[1], fpr[1]) == (0, 1, 0) and np.all(accuracy == 1)
    val, _, far = facenet.calculate_val(np.arange(0, 4, 0.01), embeddings1, embeddings2, issame,
                                        1e-3, nrof_folds=2)
    assert val == 1 and far == 0

    schedule = tmp_path / 'schedule.txt'
    schedule.write_text('# epoch: rate\n0: 0.1\n10: 0.01\n')
    assert [facenet.get_learning_rate_from_file(str(schedule), e) for e in (0, 9, 10)] == \
        [0.1, 0.1, 0.01]
    facenet.write_arguments_to_file({'alpha': 0.2, 'model': 'm'}, str(tmp_path / 'args.txt'))
    assert (tmp_path / 'args.txt').read_text() == 'alpha: 0.2\nmodel: m\n'
    facenet.store_revision_info(root, str(tmp_path), 'train.py --x 1')
    assert (tmp_path / 'revision_info.txt').read_text().startswith('arguments: train.py --x 1')
    assert (facenet.RANDOM_ROTATE, facenet.RANDOM_CROP, facenet.RANDOM_FLIP,
            facenet.FIXED_STANDARDIZATION, facenet.FLIP) == (1, 2, 4, 8, 16)


def test_facenet_model_names_load_a_checkpoint_and_a_frozen_graph(tmp_path):
    """facenet.get_model_filenames / list_variables / load_model on a tiny saved model."""
    from toolkit.tf_compat import tf
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 2], name='input')
        tf.placeholder_with_default(False, [], name='phase_train')
        scale = tf.Variable([[2.0, 0.0], [0.0, 3.0]], name='scale')
        tf.identity(tf.matmul(images, scale), name='embeddings')
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver().save(sess, str(tmp_path / 'model-x.ckpt'), global_step=7)
    meta_file, ckpt_file = facenet.get_model_filenames(str(tmp_path))
    assert (meta_file, ckpt_file) == ('model-x.ckpt-7.meta', 'model-x.ckpt-7')
    assert facenet.list_variables(str(tmp_path / ckpt_file)) == ['scale']
    with tf.Graph().as_default() as graph, tf.Session() as sess:
        facenet.load_model(str(tmp_path))
        out = sess.run(graph.get_tensor_by_name('embeddings:0'),
                       {graph.get_tensor_by_name('input:0'): [[1.0, 1.0]]})
    np.testing.assert_allclose(out, [[2.0, 3.0]])


def test_control_flags_are_bits():
    from toolkit.data.control_flags import control_value, get_control_flag
    from toolkit.tf_compat import tf
    value = control_value(random_crop=True, flip=True)
    assert value == facenet.RANDOM_CROP + facenet.FLIP == 18
    with tf.Graph().as_default(), tf.Session() as sess:
        flags = sess.run([get_control_flag(tf.constant(value), field) for field in
                          (facenet.RANDOM_ROTATE, facenet.RANDOM_CROP, facenet.RANDOM_FLIP,
                           facenet.FIXED_STANDARDIZATION, facenet.FLIP)])
    assert flags == [False, True, False, False, True]
