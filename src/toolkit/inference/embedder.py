"""Computing embeddings with a loaded model: the object every script uses."""
import numpy as np

from toolkit.errors import FacenetError
from toolkit.inference.fast_graph import load_inference_model
from toolkit.modelfiles import loading
from toolkit.session import ClosedOnExit, new_session
from toolkit.tf_compat import tf


class Embedder(ClosedOnExit):
    """A model loaded in its own graph and session, embedding batches of images.

    Use as a context manager (or call ``close``)::

        with Embedder('models/20180408-102900', networks=models.import_network) as embedder:
            embeddings = embedder.embed(images)   # standardized float images

    Args:
        model: anything ``loading.load_model`` accepts.
        gpu_memory_fraction: per-process GPU memory cap for the session.
        image_size: input size used when a checkpoint's graph is rebuilt from code.
        optimize: rewrite the frozen graph for speed (``toolkit.inference.fast_graph``).
        networks: model_def name -> network module, for that rebuild.
    """

    def __init__(self, model, gpu_memory_fraction=1.0, image_size=loading.DEFAULT_IMAGE_SIZE,
                 optimize=True, *, networks):
        self.graph = tf.Graph()
        self.session = new_session(self.graph, gpu_memory_fraction)
        try:
            with self.graph.as_default():
                self.tensors = load_inference_model(model, image_size=image_size,
                                                    optimize=optimize, networks=networks)
        except BaseException:
            self.session.close()
            raise
        self.embedding_size = int(self.tensors.embeddings.get_shape()[1])
        self.input_size = loading.expected_image_size(self.tensors)

    def close(self):
        self.session.close()

    def check_image_size(self, height, width):
        """Raise FacenetError when the model needs another input size."""
        loading.check_image_size(self.tensors, height, width)

    def embed(self, images, batch_size=100):
        """Embeddings (N x embedding_size, float32) of standardized images N x H x W x 3."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[3] != 3:
            raise FacenetError('expected images of shape N x H x W x 3, got %s' % (images.shape,))
        self.check_image_size(images.shape[1], images.shape[2])
        embeddings = np.zeros((len(images), self.embedding_size), np.float32)
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            embeddings[start:start + len(batch)] = self.session.run(
                self.tensors.embeddings, loading.inference_feed(self.tensors, batch))
        return embeddings
