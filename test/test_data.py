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


def test_facenet_module_keeps_the_classic_names():
    for name in ('get_dataset', 'ImageClass', 'get_image_paths_and_labels', 'split_dataset',
                 'prewhiten', 'to_rgb', 'crop', 'flip', 'load_data', 'load_model',
                 'get_model_filenames', 'distance', 'calculate_roc', 'calculate_val',
                 'get_learning_rate_from_file', 'store_revision_info', 'write_arguments_to_file',
                 'list_variables', 'RANDOM_ROTATE', 'RANDOM_CROP', 'RANDOM_FLIP',
                 'FIXED_STANDARDIZATION', 'FLIP'):
        assert hasattr(facenet, name), name


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
