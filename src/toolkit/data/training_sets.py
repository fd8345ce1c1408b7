"""Training sets: several data folders joined into one, and the checks made before training."""
from PIL import Image

from toolkit import session
from toolkit.data.folders import get_dataset
from toolkit.data.input_pipeline import undecodable
from toolkit.errors import FacenetError


# File signatures of the formats the training pipeline (tf.io.decode_image) decodes.
_DECODABLE_SIGNATURES = {b'\xff\xd8\xff': 'JPEG', b'\x89PNG\r\n\x1a\n': 'PNG', b'GIF87a': 'GIF',
                         b'GIF89a': 'GIF', b'BM': 'BMP'}
MAX_LISTED_PROBLEMS = 5


def decode_problem(path):
    """Why the training pipeline's decoder failed on an image file, told from its first bytes:
    unreadable, empty, a format TensorFlow does not decode (TIFF, WebP, PPM), or damaged data."""
    try:
        with open(path, 'rb') as handle:
            head = handle.read(8)
    except OSError as error:
        return 'cannot be read (%s)' % (error.strerror or error)
    if not head:
        return 'empty file'
    for signature, name in _DECODABLE_SIGNATURES.items():
        if head.startswith(signature):
            return 'damaged or truncated %s data' % name
    return 'not a JPEG, PNG, GIF or BMP file'


def load_training_set(data_dir, log=None, progress=None):
    """``get_dataset`` over every folder of a ``:``-separated ``--data_dir``, concatenated.

    Every image is decoded once by the training pipeline's decoder (``undecodable``, about
    as long as one epoch's decoding); the files it fails on are left out, with one warning
    line through ``log`` giving their number and the first few. Classes with no image left
    are dropped. ``progress(done, total)`` follows the check. Raises FacenetError when a
    folder is missing.
    """
    dataset = []
    for path in data_dir.split(':'):
        if path:
            dataset += get_dataset(path)
    paths = [path for image_class in dataset for path in image_class.image_paths]
    failed = set(paths[index] for index in
                 undecodable(paths, session.usable_cores(), progress))
    for image_class in dataset:
        image_class.image_paths = [path for path in image_class.image_paths
                                   if path not in failed]
    problems = [path for path in paths if path in failed]
    if problems and log is not None:
        log('warning: %d of the %d images in --data_dir cannot be decoded and are left out: %s%s'
            % (len(problems), len(paths),
               '; '.join('%s (%s)' % (path, decode_problem(path))
                         for path in problems[:MAX_LISTED_PROBLEMS]),
               '; ...' if len(problems) > MAX_LISTED_PROBLEMS else ''))
    return [image_class for image_class in dataset if len(image_class) > 0]


def images_gone_bad(paths):
    """A FacenetError naming the images of ``paths`` that the pipeline's decoder fails on
    now (changed after ``load_training_set`` checked them), or None when all decode."""
    failed = [paths[index] for index in undecodable(list(paths), session.usable_cores())]
    if not failed:
        return None
    return FacenetError('%d training image(s) can no longer be decoded (changed since the run '
                        'began?): %s' % (len(failed), '; '.join(
                            '%s (%s)' % (path, decode_problem(path))
                            for path in failed[:MAX_LISTED_PROBLEMS])))


def load_test_set(test_dir, train_set):
    """Images of ``test_dir`` (one folder per class) labelled with the training set's indices.

    Classes are matched by folder name; training classes without test images are fine.

    Returns:
        ``(paths, labels)``.

    Raises:
        FacenetError: the folder is missing or empty, or holds a class not trained on.
    """
    index = {image_class.name: label for label, image_class in enumerate(train_set)}
    dataset = [image_class for image_class in get_dataset(test_dir) if len(image_class) > 0]
    unknown = [image_class.name for image_class in dataset if image_class.name not in index]
    if unknown:
        raise FacenetError('--test_dir %s has %d class(es) that --data_dir lacks, e.g. %s; '
                           'the test set must use the training classes'
                           % (test_dir, len(unknown), ', '.join(unknown[:3])))
    paths = [path for image_class in dataset for path in image_class.image_paths]
    labels = [index[image_class.name] for image_class in dataset for _ in image_class.image_paths]
    if not paths:
        raise FacenetError('no images found in --test_dir %s' % test_dir)
    return paths, labels


def require_classes(dataset, data_dir, min_classes=2):
    """Raise FacenetError unless ``dataset`` has images of at least ``min_classes`` classes."""
    if not dataset:
        raise FacenetError('no images found in --data_dir %s (expected one sub-folder of '
                           'images per class)' % data_dir)
    if len(dataset) < min_classes:
        raise FacenetError('--data_dir %s has %d class(es); training needs at least %d'
                           % (data_dir, len(dataset), min_classes))


def require_image_size(dataset, image_size, random_crop):
    """Raise FacenetError when the first image is smaller than --image_size with --random_crop.

    Without random cropping smaller images are padded, as in the classic pipeline.
    """
    if not random_crop:
        return
    path = dataset[0].image_paths[0]
    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as error:
        raise FacenetError('cannot read image %s: %s' % (path, error)) from None
    if min(width, height) < image_size:
        raise FacenetError('--random_crop needs images of at least --image_size %d pixels, '
                           'but %s is %dx%d' % (image_size, path, width, height))
