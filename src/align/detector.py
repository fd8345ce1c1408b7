"""The MTCNN face detector: its three networks in their own graph and session, the detection
settings, and the faces it finds in one image or a batch of images.

Detection uses the classic settings (smallest face 20 pixels, stage thresholds 0.6/0.7/0.7,
pyramid factor 0.709); patches use the classic margin crop (``align.face_crop``). The
library functions that embed the faces (``toolkit.recognition.faces``) take a detector
object and call its methods.
"""
import numpy as np

from align import detect_face, face_crop
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.recognition.faces import Face
from toolkit.session import ClosedOnExit, new_session
from toolkit.tf_compat import tf

MINSIZE = 20
THRESHOLD = (0.6, 0.7, 0.7)
FACTOR = 0.709


class FaceDetector(ClosedOnExit):
    """MTCNN in its own graph and session. Use as a context manager (or call ``close``).

    Args:
        gpu_memory_fraction: per-process GPU memory cap of the detector's session.
        op_threads: run each op on one thread, this many at once (``session_config``).
        model_path: folder with det1-3.npy, or None for the weights of the mtcnn package.
        minsize, threshold, factor: the classic detection settings.
    """

    def __init__(self, gpu_memory_fraction=1.0, model_path=None, minsize=MINSIZE,
                 threshold=THRESHOLD, factor=FACTOR, op_threads=None):
        self.minsize = minsize
        self.threshold = list(threshold)
        self.factor = factor
        self.graph = tf.Graph()
        self.session = new_session(self.graph, gpu_memory_fraction, op_threads)
        try:
            self.pnet, self.rnet, self.onet = detect_face.create_mtcnn(self.session, model_path)
        except BaseException:
            self.session.close()
            raise

    def close(self):
        self.session.close()

    def detect(self, img):
        """``(boxes n x 5, points 10 x n)`` for one RGB uint8 image."""
        return detect_face.detect_face(img, self.minsize, self.pnet, self.rnet, self.onet,
                                       self.threshold, self.factor)

    def detect_batch(self, images, profile=None, levels=None):
        """``[(boxes n x 5, points 10 x n), ...]``, one pair per RGB uint8 image of a list.

        The images go through each network stage together (``detect_face.detect_faces``);
        the boxes equal ``detect``'s. ``profile``: an optional ``detect_face.StageProfile``
        that collects the seconds of each step; ``levels``: each image's ``pyramid_levels``
        computed ahead (or None).
        """
        return detect_face.detect_faces(images, self.minsize, self.pnet, self.rnet, self.onet,
                                        self.threshold, self.factor, profile=profile,
                                        levels=levels)

    def prepare_runs(self):
        """Prepare R- and O-Net's session runs (``Network.prepare``): a thread may do it
        while another runs P-Net on the first batch."""
        self.rnet.prepare()
        self.onet.prepare()

    def find_faces(self, img, margin, image_size, main_face_only=False):
        """Every face of an RGB uint8 image as Face objects with aligned patches.

        Args:
            img: H x W x 3 uint8 RGB image.
            margin: total margin in pixels around the detector's box.
            image_size: side of the aligned patches.
            main_face_only: keep only the largest, most central face (as the aligner).

        Returns:
            list of Face, in detector order (empty when no face is found).
        """
        img = _as_rgb(img)
        boxes, points = self.detect(img)
        indices = range(len(boxes))
        if main_face_only and len(boxes) > 1:
            indices = [face_crop.main_face_index(boxes, img.shape[0], img.shape[1])]
        faces = []
        for i in indices:
            patch, crop_box = face_crop.crop_face(img, boxes[i], margin, image_size)
            if patch is not None:
                faces.append(Face(crop_box, boxes[i].copy(), points[:, i].copy(), patch))
        return faces


def pyramid_levels(img, minsize=MINSIZE, factor=FACTOR):
    """P-Net's pyramid of one RGB uint8 image at the detection settings (see
    ``detect_face.pyramid_levels``); needs no detector, so it can run before one is built."""
    return detect_face.pyramid_levels(img, minsize, factor)


def _as_rgb(img):
    """uint8 H x W x 3 view of an image (grayscale is stacked, alpha dropped)."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = folders.to_rgb(img)
    if img.ndim != 3 or img.shape[2] < 3:
        raise FacenetError('expected an RGB image, got an array of shape %s' % (img.shape,))
    return np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)
