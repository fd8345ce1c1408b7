"""tf.data input pipelines for training: decode, augment, standardize, batch, prefetch.

Image paths are fed through placeholders when an iterator is initialized, so a large
dataset's file list never becomes a constant in the graph (and in the exported ``.meta``).
Decoding and augmentation run on ``nrof_threads`` parallel calls and batches are prefetched,
so the next batch is ready while the model trains on the current one.
"""
import collections
import math
import re

import numpy as np

from toolkit import tf_compat
from toolkit.tf_compat import tf

# Random rotations are drawn uniformly from [-RANDOM_ROTATE_DEGREES, RANDOM_ROTATE_DEGREES].
RANDOM_ROTATE_DEGREES = 10.0
PREFETCH_BATCHES = 2
# undecodable() decodes this many files per pass of its pipeline (progress is reported between).
DECODE_CHECK_CHUNK = 2048
_ANY_LINE = re.compile('')

Augmentation = collections.namedtuple(
    'Augmentation', ['random_crop', 'random_flip', 'random_rotate', 'fixed_standardization'])
Augmentation.__new__.__defaults__ = (False, False, False, False)


def decode_image(path):
    """Read and decode a JPEG/PNG/BMP/GIF file into an H x W x 3 uint8 tensor."""
    contents = tf.io.read_file(path)
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def undecodable(paths, nrof_threads, progress=None):
    """The indices of the files in ``paths`` that ``decode_image`` cannot decode.

    Every file is read and fully decoded by the training pipeline's own decoder, on
    ``nrof_threads`` parallel calls, in a graph and session of its own; a damaged or
    truncated JPEG fails here exactly as it would in training. What the decoders write to
    stderr about damaged files meanwhile is held back (the caller reports the files).
    ``progress(done, total)`` is called after each chunk of DECODE_CHECK_CHUNK files.
    """
    decoded = np.zeros(len(paths), bool)
    if not paths:
        return []
    with tf.Graph().as_default():
        chunk_paths = tf.placeholder(tf.string, [None])
        dataset = tf.data.Dataset.from_tensor_slices(
            (tf.range(tf.size(chunk_paths, out_type=tf.int64)), chunk_paths))
        # The decoded shape is fetched, so the decode itself cannot be pruned from the graph.
        dataset = dataset.map(lambda index, path: (index, tf.shape(decode_image(path))[0]),
                              num_parallel_calls=nrof_threads)
        dataset = dataset.ignore_errors().batch(DECODE_CHECK_CHUNK)
        iterator = tf.data.make_initializable_iterator(dataset)
        decoded_indices = iterator.get_next()[0]
        with tf.Session() as sess:
            for start in range(0, len(paths), DECODE_CHECK_CHUNK):
                chunk = decoded[start:start + DECODE_CHECK_CHUNK]
                # The chunk's pass ends before stderr is let through again: no decode
                # runs in the background while progress is shown.
                with tf_compat.stderr_without(_ANY_LINE):
                    sess.run(iterator.initializer,
                             {chunk_paths: list(paths[start:start + DECODE_CHECK_CHUNK])})
                    while True:
                        try:
                            chunk[sess.run(decoded_indices)] = True
                        except tf.errors.OutOfRangeError:
                            break
                if progress:
                    progress(start + len(chunk), len(paths))
    return np.flatnonzero(~decoded).tolist()


def random_rotate(image, max_degrees=RANDOM_ROTATE_DEGREES, seed=None):
    """Rotate about the image centre by a uniform random angle (bilinear, black corners).

    The classic pipeline rotated with a bicubic ``scipy.misc.imrotate`` in a Python
    callback; this is an in-graph projective transform, so it runs in parallel and the
    graph can still be exported.
    """
    angle = tf.random.uniform([], -max_degrees, max_degrees, seed=seed) * (math.pi / 180.0)
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    center_x, center_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Maps each output pixel (x, y) to the input pixel it samples.
    transform = tf.stack([cos, -sin, center_x - cos * center_x + sin * center_y,
                          sin, cos, center_y - sin * center_x - cos * center_y, 0.0, 0.0])
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.expand_dims(image, 0), transforms=tf.expand_dims(transform, 0),
        output_shape=shape[:2], fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')
    return rotated[0]


def standardize(image, fixed_standardization):
    """``(x - 127.5) / 128`` or per-image prewhitening, as float32."""
    if fixed_standardization:
        return (tf.cast(image, tf.float32) - 127.5) / 128.0
    return tf.image.per_image_standardization(image)


def preprocess(path, image_size, augmentation, seed=None):
    """Decode one image and turn it into a standardized image_size x image_size x 3 tensor.

    Args:
        path: scalar string tensor.
        image_size: output height and width.
        augmentation: an Augmentation.
    """
    image = decode_image(path)
    if augmentation.random_rotate:
        image = random_rotate(image, seed=seed)
    if augmentation.random_crop:
        image = tf.image.random_crop(image, [image_size, image_size, 3], seed=seed)
    else:
        image = tf.image.resize_with_crop_or_pad(image, image_size, image_size)
    if augmentation.random_flip:
        image = tf.image.random_flip_left_right(image, seed=seed)
    image = standardize(image, augmentation.fixed_standardization)
    image.set_shape([image_size, image_size, 3])
    return image


class ImageBatches:
    """Batches of (images, labels) read from a list of paths fed when the iterator starts.

    Args:
        image_size: output height and width.
        batch_size: images per batch (the last one of a finite pass may be smaller).
        augmentation: an Augmentation.
        nrof_threads: parallel decode/augment calls.
        shuffle_and_repeat: shuffle the list (anew each pass) and repeat it forever, dropping
            incomplete batches; otherwise one pass in the given order.
        skip_unreadable: drop images that fail to decode (long training runs) instead of
            failing the step.
        mirrored: follow each image by its mirror image (flipped evaluation), both from one
            decode; batches then hold batch_size images, pairs kept together.
        seed: op seed for shuffling and augmentation.
        name: name scope of the placeholders.
        shard: ``(nrof_workers, index)``: read only worker ``index``'s share of the list
            (tf.data's ``Dataset.shard``), the same list fed to every worker. Shuffled:
            items index, index + n, ... before shuffling (disjoint shares of each epoch).
            In order: the index-th of every n consecutive batches, so that the workers'
            batches side by side make the global batches of the list in order.

    Attributes:
        images: batch x image_size x image_size x 3 float32 tensor.
        labels: batch int64 tensor.
    """

    def __init__(self, image_size, batch_size, augmentation, nrof_threads,
                 shuffle_and_repeat=False, skip_unreadable=False, mirrored=False, seed=None,
                 name='input_data', shard=None):
        with tf.name_scope(name):
            self._paths = tf.placeholder(tf.string, [None], name='image_paths')
            self._labels = tf.placeholder(tf.int64, [None], name='labels')
            dataset = tf.data.Dataset.from_tensor_slices((self._paths, self._labels))
            if shard and shuffle_and_repeat:
                dataset = dataset.shard(*shard)
            elif shard:
                dataset = dataset.batch(batch_size).shard(*shard).unbatch()
            if shuffle_and_repeat:
                dataset = dataset.shuffle(tf.cast(tf.size(self._paths), tf.int64), seed=seed,
                                          reshuffle_each_iteration=True).repeat()

            def load(path, label):
                return preprocess(path, image_size, augmentation, seed), label

            def load_with_mirror(path, label):
                image = preprocess(path, image_size, augmentation, seed)
                return tf.stack([image, tf.image.flip_left_right(image)]), tf.stack([label, label])

            dataset = dataset.map(load_with_mirror if mirrored else load,
                                  num_parallel_calls=nrof_threads)
            if skip_unreadable:
                dataset = dataset.ignore_errors(log_warning=True)
            if mirrored:
                dataset = dataset.unbatch()
            dataset = dataset.batch(batch_size, drop_remainder=shuffle_and_repeat)
            dataset = dataset.prefetch(PREFETCH_BATCHES)
            self._iterator = tf.data.make_initializable_iterator(dataset)
            self.images, self.labels = self._iterator.get_next()

    def start(self, sess, paths, labels=None):
        """(Re)start the iterator on ``paths`` (labels default to 0)."""
        sess.run(self._iterator.initializer, {
            self._paths: list(paths),
            self._labels: [0] * len(paths) if labels is None else list(labels)})

    def batches(self, sess):
        """Yield ``(images, labels)`` numpy batches until the pass ends."""
        while True:
            try:
                yield sess.run([self.images, self.labels])
            except tf.errors.OutOfRangeError:
                return
