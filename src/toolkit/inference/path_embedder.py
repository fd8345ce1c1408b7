"""Embedding image files with a loaded model, the images read ahead by a tf.data pipeline.

Decoding, cropping, flipping and standardization run on parallel tf.data calls with batches
prefetched, so the next batch is ready while the network works on the current one; each
batch is then fed to the model's ``input`` tensor. Each distinct file is read once: repeated
paths (LFW pairs name most images several times) share one embedding, and a mirrored copy
comes from the same decode. (The classic scripts used a FIFO queue with queue runners,
embedded every path of every pair, and needed the batch size to divide the number of
images; any batch size works here, the last batch is simply smaller.)
"""
import numpy as np

from toolkit.data import folders
from toolkit.data.input_pipeline import Augmentation, ImageBatches
from toolkit.errors import FacenetError
from toolkit.modelfiles.loading import check_image_size, inference_feed
from toolkit.tf_compat import tf

DEFAULT_NROF_THREADS = 4


class PathEmbedder:
    """Embeds lists of image files with a model in the default graph.

    Build one per graph, before the graph is finalized: the readers' ops are created in the
    constructor. Then call ``embed`` with a session on that graph as often as needed.

    Args:
        tensors: the model's ModelTensors (``model_io.get_model_tensors``).
        image_size: images are centre-cropped (or zero-padded) to image_size x image_size.
        batch_size: images per forward pass (a mirrored copy counts as an image).
        fixed_standardization: ``(x - 127.5) / 128`` instead of per-image prewhitening.
        nrof_threads: parallel decode calls.

    Raises:
        FacenetError: the model's input needs another image size.
    """

    def __init__(self, tensors, image_size, batch_size, fixed_standardization=False,
                 nrof_threads=DEFAULT_NROF_THREADS):
        check_image_size(tensors, image_size, image_size)
        self.tensors = tensors
        self.batch_size = batch_size
        augmentation = Augmentation(fixed_standardization=fixed_standardization)
        self._readers = {
            mirrored: ImageBatches(image_size, batch_size, augmentation, nrof_threads,
                                   mirrored=mirrored, name='path_embedder')
            for mirrored in (False, True)}

    def embed(self, sess, paths, flipped=False, progress=None):
        """Embeddings of the images at ``paths``, in order.

        Args:
            sess: session on the graph holding the model and this embedder.
            paths: image file paths; a path given several times is read once.
            flipped: also embed each mirrored image and concatenate: row i is
                ``[embedding(image_i), embedding(mirrored image_i)]`` as in the classic script.
            progress: optional ``callback(nrof_images_done, nrof_images)`` after each batch,
                counting the images that go through the network (each distinct path once,
                its mirror image as a second image), e.g. a ``toolkit.progress.Progress``.

        Returns:
            float32 array (len(paths), embedding_size * (2 if flipped else 1)).

        Raises:
            FacenetError: an image cannot be read (the message names it).
        """
        paths = list(paths)
        distinct = distinct_paths(paths)
        rows = self._embed_distinct(sess, distinct, flipped, progress)
        row_of_path = {path: row for row, path in enumerate(distinct)}
        return rows[[row_of_path[path] for path in paths]]

    def _embed_distinct(self, sess, paths, flipped, progress):
        nrof_flips = 2 if flipped else 1
        reader = self._readers[flipped]
        # With flips, each image is followed by its mirror image, in the classic script's order.
        reader_paths = [path for path in paths for _ in range(nrof_flips)]
        nrof_batches = -(-len(reader_paths) // self.batch_size)
        reader.start(sess, paths)
        batches = []
        for batch_index in range(nrof_batches):
            start = batch_index * self.batch_size
            images = _next_images(sess, reader, reader_paths[start:start + self.batch_size])
            batches.append(sess.run(self.tensors.embeddings,
                                    inference_feed(self.tensors, images)))
            if progress:
                progress(min(start + self.batch_size, len(reader_paths)), len(reader_paths))
        if not batches:
            embedding_size = self.tensors.embeddings.get_shape().as_list()[-1] or 0
            return np.zeros((0, nrof_flips * embedding_size), np.float32)
        embeddings = np.concatenate(batches).astype(np.float32, copy=False)
        return embeddings.reshape(len(paths), nrof_flips * embeddings.shape[1])


def distinct_paths(paths):
    """The paths PathEmbedder reads: each distinct one once, in order of first appearance."""
    return list(dict.fromkeys(paths))


def nrof_network_images(paths, flipped=False):
    """How many images ``PathEmbedder.embed(sess, paths, flipped)`` runs through the network."""
    return len(distinct_paths(paths)) * (2 if flipped else 1)


def _next_images(sess, reader, batch_paths):
    """The reader's next standardized batch; FacenetError naming an unreadable file."""
    try:
        images = sess.run(reader.images)
    except tf.errors.OpError as error:
        for path in batch_paths:
            folders.read_rgb_image(path)  # raises FacenetError naming the bad file
        raise FacenetError('cannot read an image of %s ... %s: %s'
                           % (batch_paths[0], batch_paths[-1],
                              error.message.splitlines()[0])) from None
    if len(images) != len(batch_paths):
        raise FacenetError('image reader returned %d images instead of %d'
                           % (len(images), len(batch_paths)))
    return images


def embed_image_paths(sess, tensors, paths, batch_size, image_size, fixed_standardization=False,
                      flipped=False, progress=None):
    """One-off ``PathEmbedder(...).embed(sess, paths, flipped, progress)``; see PathEmbedder."""
    with sess.graph.as_default():
        embedder = PathEmbedder(tensors, image_size, batch_size, fixed_standardization)
    return embedder.embed(sess, paths, flipped, progress)
