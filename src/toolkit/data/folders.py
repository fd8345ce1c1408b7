"""Datasets laid out as one folder per class, image reading and numpy image transforms."""
import errno
import math
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from toolkit.errors import FacenetError
from toolkit.fileio import os_error_reason, require_dir

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


class ImageClass:
    """Stores the paths to images for a given class."""

    def __init__(self, name, image_paths):
        self.name = name
        self.image_paths = image_paths

    def __str__(self):
        return self.name + ', ' + str(len(self.image_paths)) + ' images'

    def __len__(self):
        return len(self.image_paths)


def is_image_file(path):
    """True for a regular, non-hidden file with an image extension."""
    name = os.path.basename(path)
    return (not name.startswith('.') and name.lower().endswith(IMAGE_EXTENSIONS)
            and os.path.isfile(path))


def unusable_image_reason(path):
    """Why an entry named like an image is no image file (a link loop, ...), else None."""
    name = os.path.basename(path)
    if name.startswith('.') or not name.lower().endswith(IMAGE_EXTENSIONS) or os.path.isfile(path):
        return None
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as error:
            return ('symbolic link loop' if error.errno == errno.ELOOP
                    else 'broken symbolic link (%s)' % (error.strerror or error))
    return 'not a regular file'


def get_image_paths(facedir, problems=None):
    """Sorted paths of the image files in ``facedir`` (other files are ignored).

    Entries named like images that are no image file (a symbolic link loop, a broken
    link, a folder called ``x.jpg``) are left out; with a ``problems`` list they are
    appended to it as ``(path, reason)``.
    """
    if not os.path.isdir(facedir):
        return []
    paths = [os.path.join(facedir, name) for name in sorted(os.listdir(facedir))]
    if problems is not None:
        problems.extend((path, reason) for path, reason in
                        ((path, unusable_image_reason(path)) for path in paths) if reason)
    return [path for path in paths if is_image_file(path)]


def get_dataset(path, has_class_directories=True, problems=None):
    """List ``path/<class>/<image>`` as ImageClass objects sorted by class name.

    ``problems``: see ``get_image_paths``.
    """
    path_exp = os.path.expanduser(path)
    require_dir(path_exp, 'dataset directory')
    classes = sorted(name for name in os.listdir(path_exp)
                     if os.path.isdir(os.path.join(path_exp, name)) and not name.startswith('.'))
    return [ImageClass(name, get_image_paths(os.path.join(path_exp, name), problems))
            for name in classes]


def small_image_warning(paths, image_size):
    """A one-line warning when images are smaller than the model input, else None.

    The embedding pipelines pad such images with black borders (as the classic centre crop
    did not), which lowers accuracy. Reads only the image headers.
    """
    small = []
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, SyntaxError, ValueError):
            continue  # unreadable: reported where it is read
        if min(width, height) < image_size:
            small.append((path, width, height))
    if not small:
        return None
    path, width, height = small[0]
    return ('warning: %d of the %d images are smaller than --image_size %d (e.g. %s is %dx%d) '
            'and are padded with black borders, which lowers accuracy: align them at '
            '--image_size %d' % (len(small), len(paths), image_size, path, width, height,
                                 image_size))


def get_image_paths_and_labels(dataset):
    """Flatten a dataset into parallel lists of image paths and integer class labels."""
    image_paths_flat = []
    labels_flat = []
    for label, image_class in enumerate(dataset):
        image_paths_flat += image_class.image_paths
        labels_flat += [label] * len(image_class.image_paths)
    return image_paths_flat, labels_flat


def split_dataset(dataset, split_ratio, min_nrof_images_per_class, mode, rng=np.random):
    """Split into train and test sets by class (SPLIT_CLASSES) or by image (SPLIT_IMAGES).

    SPLIT_IMAGES keeps a class only when its train part has at least
    ``min_nrof_images_per_class`` images and its test part at least one. Unlike the classic
    code, SPLIT_CLASSES does not drop the last class of the test set.
    """
    if mode == 'SPLIT_CLASSES':
        class_indices = np.arange(len(dataset))
        rng.shuffle(class_indices)
        split = int(round(len(dataset) * (1 - split_ratio)))
        train_set = [dataset[i] for i in class_indices[:split]]
        test_set = [dataset[i] for i in class_indices[split:]]
    elif mode == 'SPLIT_IMAGES':
        train_set = []
        test_set = []
        for image_class in dataset:
            paths = list(image_class.image_paths)
            rng.shuffle(paths)
            nrof_images = len(paths)
            split = int(math.floor(nrof_images * (1 - split_ratio)))
            if split == nrof_images:
                split = nrof_images - 1
            if split >= min_nrof_images_per_class and nrof_images - split >= 1:
                train_set.append(ImageClass(image_class.name, paths[:split]))
                test_set.append(ImageClass(image_class.name, paths[split:]))
    else:
        raise FacenetError('invalid train/test split mode "%s"' % mode)
    return train_set, test_set


def _pil_to_rgb_array(image):
    """Convert any PIL mode (grayscale, RGBA, CMYK, palette, 16-bit) to an RGB uint8 array."""
    if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
        array = np.asarray(image, dtype=np.uint32)
        scale = 257.0 if array.max() > 255 else 1.0
        return to_rgb(np.clip(np.round(array / scale), 0, 255).astype(np.uint8))
    if image.mode == 'F':
        return to_rgb(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    return np.asarray(image.convert('RGB'), dtype=np.uint8)


def read_rgb_image(path):
    """Read an image file as an RGB uint8 array of shape (height, width, 3).

    Raises:
        FacenetError: the file is missing, not an image, or truncated.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return _pil_to_rgb_array(image)
    except FileNotFoundError:
        raise FacenetError('image not found: %s' % path) from None
    except (UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise FacenetError('cannot read image %s: %s' % (path, error)) from None
    except OSError as error:  # no permission, a folder, a truncated file
        raise FacenetError('cannot read image %s: %s' % (path, os_error_reason(error))) from None


def prewhiten(x):
    """Per-image standardization: ``(x - mean) / max(std, 1/sqrt(x.size))``."""
    mean = np.mean(x)
    std = np.std(x)
    std_adj = np.maximum(std, 1.0 / np.sqrt(x.size))
    return np.multiply(np.subtract(x, mean), 1 / std_adj)


def fixed_standardization(x):
    """Fixed standardization used by the newer models: ``(x - 127.5) / 128``."""
    return (np.asarray(x, dtype=np.float32) - 127.5) / 128.0


def to_rgb(img):
    """Stack a single-channel image into three identical channels."""
    w, h = img.shape
    ret = np.empty((w, h, 3), dtype=np.uint8)
    ret[:, :, 0] = ret[:, :, 1] = ret[:, :, 2] = img
    return ret


def crop(image, random_crop, image_size, rng=np.random):
    """Central (or randomly shifted) square crop of ``image_size`` when the image is larger."""
    if image.shape[1] > image_size:
        sz1 = int(image.shape[1] // 2)
        sz2 = int(image_size // 2)
        if random_crop:
            diff = sz1 - sz2
            (h, v) = (rng.randint(-diff, diff + 1), rng.randint(-diff, diff + 1))
        else:
            (h, v) = (0, 0)
        image = image[(sz1 - sz2 + v):(sz1 + sz2 + v), (sz1 - sz2 + h):(sz1 + sz2 + h), :]
    return image


def flip(image, random_flip, rng=np.random):
    """Mirror the image left-right with probability 1/2 when ``random_flip`` is set."""
    if random_flip and rng.choice([True, False]):
        image = np.fliplr(image)
    return image


def load_data(image_paths, do_random_crop, do_random_flip, image_size, do_prewhiten=True,
              rng=np.random):
    """Read, standardize, crop and flip images into one float array (N, size, size, 3)."""
    images = np.zeros((len(image_paths), image_size, image_size, 3))
    for i, path in enumerate(image_paths):
        img = read_rgb_image(path)
        if do_prewhiten:
            img = prewhiten(img)
        img = crop(img, do_random_crop, image_size, rng)
        img = flip(img, do_random_flip, rng)
        if img.shape[:2] != (image_size, image_size):
            raise FacenetError('image %s is %dx%d, smaller than --image_size %d'
                               % (path, img.shape[1], img.shape[0], image_size))
        images[i, :, :, :] = img
    return images
