# coding=utf-8
"""Face detection and recognition in a few objects: the library behind predict.py and
real_time_face_recognition.py.

    from face import Recognition
    with Recognition('models/20170512-110547', 'my_classifier.pkl',
                     distance_threshold=1.1) as recognition:
        recognition.add_identity(rgb_photo_of_alice, 'Alice')
        for face in recognition.identify(rgb_image):
            print(face.name, face.bounding_box)

``Detection`` finds faces (MTCNN) and cuts aligned patches, ``Encoder`` embeds them,
``Identifier`` names them from a classifier file (classifier.py TRAIN) and/or from people
added with ``add_identity``, ``Recognition`` ties the three together.

Differences from the classic module: model, classifier and GPU settings are constructor
arguments instead of module globals pointing at fixed paths; images are RGB (convert camera
frames from BGR, as real_time_face_recognition.py does); ``add_identity`` really adds the
person (the classic one computed an embedding and dropped it); an ``Identifier`` can say
``Unknown`` (probability and distance thresholds); the classic module's ``debug`` windows
are gone (see real_time_face_recognition.py --debug).

Contributed scripts put the repository's ``src`` folder on ``sys.path`` first (below), so
they run as ``python contributed/<name>.py`` from any folder.
"""
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402

from align.detector import MINSIZE, FaceDetector  # noqa: E402
import models  # noqa: E402
from toolkit.recognition import faces, identification  # noqa: E402
from toolkit.inference.embedder import Embedder  # noqa: E402
from toolkit.modelfiles import metadata  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.session import ClosedOnExit  # noqa: E402
from toolkit.recognition.faces import Face  # noqa: E402,F401  (part of this module's API)

DEFAULT_CROP_SIZE = 160
DEFAULT_CROP_MARGIN = 32


class Detection:
    """Finds faces in RGB images and cuts aligned ``face_crop_size`` patches."""

    def __init__(self, face_crop_size=DEFAULT_CROP_SIZE, face_crop_margin=DEFAULT_CROP_MARGIN,
                 gpu_memory_fraction=1.0, min_face_size=MINSIZE):
        self.face_crop_size = face_crop_size
        self.face_crop_margin = face_crop_margin
        self.detector = FaceDetector(gpu_memory_fraction, minsize=min_face_size)

    def find_faces(self, image):
        """Every face of an RGB uint8 image, as ``Face`` objects."""
        return self.detector.find_faces(image, self.face_crop_margin, self.face_crop_size)

    def close(self):
        self.detector.close()


class Encoder:
    """Embeds aligned face patches with a FaceNet model (folder or .pb)."""

    def __init__(self, model, gpu_memory_fraction=1.0, fixed_standardization=None,
                 image_size=DEFAULT_CROP_SIZE):
        self.fixed_standardization = metadata.fixed_standardization(model, fixed_standardization)
        self.embedder = Embedder(model, gpu_memory_fraction, image_size,
                                 networks=models.import_network)

    @property
    def embedding_size(self):
        return self.embedder.embedding_size

    def generate_embedding(self, face):
        """Embedding of one Face (also stored in ``face.embedding``)."""
        return self.generate_embeddings([face])[0]

    def generate_embeddings(self, face_list):
        """Embeddings of several faces in one run (N x D); sets each ``face.embedding``."""
        return faces.embed_faces(self.embedder, face_list, self.fixed_standardization)

    def close(self):
        self.embedder.close()


class Identifier:
    """Names embeddings: a classifier file's SVM (or 1-NN) and a gallery of added people.

    Args:
        classifier_filename: a classifier.py TRAIN file, or None to know only the people
            added with ``add``.
        embedding_size: the encoder's embedding size, to refuse a classifier trained with
            another model.
        probability_threshold: ``Unknown`` when the classifier's best probability is lower.
        distance_threshold: ``Unknown`` when the face is farther than this (euclidean,
            between embeddings) from every stored image of the best person.
    """

    def __init__(self, classifier_filename=None, embedding_size=None, probability_threshold=None,
                 distance_threshold=None):
        self.model, self.class_names = None, []
        if classifier_filename:
            self.model, self.class_names = identification.load_classifier(
                classifier_filename, embedding_size)
            gallery = identification.gallery(self.model)
            if gallery is None and distance_threshold is not None:
                raise FacenetError('%s holds no training embeddings (a classic classifier '
                                   'file?): retrain it to use a distance threshold'
                                   % classifier_filename)
        self.probability_threshold = probability_threshold
        self.distance_threshold = distance_threshold
        self.added_names = []
        self.added_embeddings = []

    def add(self, name, embedding):
        """Know one more image of a person (several images per person are fine)."""
        self.added_names.append(name)
        self.added_embeddings.append(np.asarray(embedding, dtype=np.float32))

    def identify(self, face):
        """Name of ``face`` (from ``face.embedding``); also sets name, probability, distance."""
        if face.embedding is None:
            return None
        name, probability, distance = self._classify(face.embedding)
        added_name, added_distance = self._nearest_added(face.embedding)
        if added_name is not None and (name is None or added_distance < distance):
            name, probability, distance = added_name, None, added_distance
        if name is None:
            raise FacenetError('the identifier knows nobody: give a classifier file or add '
                               'identities first')
        rejected = ((self.distance_threshold is not None and distance > self.distance_threshold)
                    or (self.probability_threshold is not None and probability is not None
                        and probability < self.probability_threshold))
        face.name = identification.UNKNOWN if rejected else name
        face.best_name = name
        face.probability, face.distance = probability, distance
        return face.name

    def _classify(self, embedding):
        """(name, probability, distance to that class) from the classifier file, or Nones."""
        if self.model is None:
            return None, None, np.inf
        best, probability = identification.best_classes(self.model, embedding[None])
        distance = np.inf
        gallery = identification.gallery(self.model)
        if gallery is not None:
            similarity = identification.class_similarities(
                gallery[0], gallery[1], embedding[None], len(self.class_names))[0, best[0]]
            distance = float(identification.similarity_to_distance(similarity))
        return self.class_names[best[0]], float(probability[0]), distance

    def _nearest_added(self, embedding):
        """(name, distance) of the closest added image, or (None, inf)."""
        if not self.added_embeddings:
            return None, np.inf
        gallery = identification.normalize(np.stack(self.added_embeddings))
        distances = np.linalg.norm(gallery - identification.normalize(embedding[None]), axis=1)
        nearest = int(np.argmin(distances))
        return self.added_names[nearest], float(distances[nearest])


class Recognition(ClosedOnExit):
    """Detection, encoding and identification together. Use as a context manager.

    Args:
        model: FaceNet model folder or .pb file.
        classifier_filename: optional classifier.py TRAIN file.
        probability_threshold, distance_threshold: see ``Identifier``.
        face_crop_size, face_crop_margin: aligned patch size and margin (160 and 32, as
            the classic module).
        gpu_memory_fraction: GPU memory cap of each of the two sessions.
        fixed_standardization: the model was trained with ``(x - 127.5) / 128`` inputs;
            None (the default): as the model's metadata file says, else prewhitening.
    """

    def __init__(self, model, classifier_filename=None, probability_threshold=None,
                 distance_threshold=None, face_crop_size=DEFAULT_CROP_SIZE,
                 face_crop_margin=DEFAULT_CROP_MARGIN, gpu_memory_fraction=1.0,
                 fixed_standardization=None):
        self.detect = Detection(face_crop_size, face_crop_margin, gpu_memory_fraction)
        try:
            self.encoder = Encoder(model, gpu_memory_fraction, fixed_standardization,
                                   face_crop_size)
            try:
                self.identifier = Identifier(classifier_filename, self.encoder.embedding_size,
                                             probability_threshold, distance_threshold)
            except BaseException:
                self.encoder.close()
                raise
        except BaseException:
            self.detect.close()
            raise

    def close(self):
        self.encoder.close()
        self.detect.close()

    def add_identity(self, image, person_name):
        """Learn a person from an RGB photo showing exactly one face.

        Returns:
            the detected faces (one).

        Raises:
            FacenetError: the photo shows no face or several faces.
        """
        found = self.detect.find_faces(image)
        if len(found) != 1:
            raise FacenetError('add_identity needs a photo with exactly one face; found %d '
                               'for %s' % (len(found), person_name))
        found[0].name = person_name
        self.identifier.add(person_name, self.encoder.generate_embedding(found[0]))
        return found

    def identify(self, image):
        """Every face in an RGB image, with ``name`` (or ``Unknown``) and ``embedding``."""
        found = self.detect.find_faces(image)
        self.encoder.generate_embeddings(found)
        for face in found:
            self.identifier.identify(face)
        return found
