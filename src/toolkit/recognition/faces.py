"""Faces in arbitrary photos: the Face record, patches read from files, standardized, embedded.

The library behind compare.py, predict.py, cluster.py, export_embeddings.py and the
contributed ``face`` module. Finding faces in a photo needs a detector object (the MTCNN
``align.detector.FaceDetector``, built by the script): these functions only call its
``find_faces`` method.
"""
import numpy as np

from toolkit.data import folders
from toolkit.errors import FacenetError


class Face:
    """One detected face.

    Attributes:
        bounding_box: int32 (x1, y1, x2, y2), the rectangle cut out of the photo (detector
            box plus margin, clipped).
        detection: float (x1, y1, x2, y2, score) from MTCNN.
        landmarks: 10 floats, x1..x5 then y1..y5 (eyes, nose, mouth corners).
        image: aligned RGB uint8 patch, image_size x image_size.
        embedding, name, distance, probability: filled in by recognition code.
        best_name: the best class before the unknown-rejection thresholds (``name`` is
            ``Unknown`` when they rejected it); distance and probability are that class's.
    """

    def __init__(self, bounding_box, detection, landmarks, image):
        self.bounding_box = bounding_box
        self.detection = detection
        self.landmarks = landmarks
        self.image = image
        self.embedding = None
        self.name = None
        self.best_name = None
        self.distance = None
        self.probability = None

    @property
    def score(self):
        return float(self.detection[4])


def standardize(images, fixed_standardization=False):
    """Model input from uint8 patches: per-image prewhitening, or ``(x - 127.5) / 128``.

    Args:
        images: N x H x W x 3 uint8 (or a list of H x W x 3).

    Returns:
        float32 N x H x W x 3.
    """
    images = np.asarray(images, dtype=np.float32)
    if fixed_standardization:
        return folders.fixed_standardization(images).astype(np.float32)
    return np.stack([folders.prewhiten(image) for image in images]).astype(np.float32) \
        if len(images) else images


class AlignedImages:
    """Face patches read from image files, and the files that gave none.

    Attributes:
        images: N x image_size x image_size x 3 uint8 patches (one face per kept file).
        paths: the N image paths the patches come from.
        indices: position of each kept path in the list that was read.
        failures: ``(path, reason)`` for every file skipped (unreadable, no face, too small).
    """

    def __init__(self, images, paths, indices, failures):
        self.images = images
        self.paths = paths
        self.indices = indices
        self.failures = failures


def read_aligned_patch(path, image_size):
    """An already aligned face image, centre-cropped to image_size (as the classic load_data).

    Raises:
        FacenetError: unreadable, or smaller than image_size.
    """
    img = folders.crop(folders.read_rgb_image(path), False, image_size)
    if img.shape[:2] != (image_size, image_size):
        raise FacenetError('image %s is %dx%d, not at least %dx%d (--image_size)'
                           % (path, img.shape[1], img.shape[0], image_size, image_size))
    return img


def read_face_patches(paths, image_size, detector=None, margin=0, progress=None):
    """One face patch per image file; files that fail are recorded and skipped.

    Args:
        paths: image file paths.
        image_size: side of the patches.
        detector: an ``align.detector.FaceDetector`` (anything with its ``find_faces``) to
            align raw photos (the main face of each), or None when
            the files are aligned faces already (centre crop).
        margin: margin of the crop around a detected face.
        progress: optional ``callback(nrof_done, nrof_paths)``.

    Returns:
        AlignedImages.
    """
    patches, kept, indices, failures = [], [], [], []
    for index, path in enumerate(paths):
        try:
            if detector is None:
                patch = read_aligned_patch(path, image_size)
            else:
                found = detector.find_faces(folders.read_rgb_image(path), margin, image_size,
                                            main_face_only=True)
                patch = found[0].image if found else None
                if patch is None:
                    failures.append((path, 'no face detected'))
        except FacenetError as error:
            failures.append((path, str(error)))
            patch = None
        if patch is not None:
            patches.append(patch)
            kept.append(path)
            indices.append(index)
        if progress:
            progress(index + 1, len(paths))
    images = (np.stack(patches) if patches
              else np.zeros((0, image_size, image_size, 3), np.uint8))
    return AlignedImages(images, kept, indices, failures)


def embed_image_files(embedder, paths, image_size, batch_size, fixed_standardization=False,
                      detector=None, margin=0, progress=None):
    """Embeddings of the faces in image files, read and embedded batch by batch.

    Args:
        embedder: an ``embedding.Embedder``.
        paths: image files (aligned faces, or raw photos when ``detector`` is given).
        image_size, batch_size, fixed_standardization: model input settings.
        detector, margin: see ``read_face_patches``.
        progress: optional ``callback(nrof_paths_done, nrof_paths)`` after each batch.

    Returns:
        ``(embeddings, indices, failures)``: K x D embeddings of the K readable images,
        their positions in ``paths``, and ``(path, reason)`` of the others.
    """
    paths = list(paths)
    nrof_batches = -(-len(paths) // batch_size)
    embeddings = np.zeros((0, embedder.embedding_size), np.float32)
    chunks, indices, failures = [embeddings], [], []
    for batch in range(nrof_batches):
        start = batch * batch_size
        aligned = read_face_patches(paths[start:start + batch_size], image_size, detector,
                                    margin)
        if len(aligned.images):
            chunks.append(embedder.embed(standardize(aligned.images, fixed_standardization),
                                         batch_size))
        indices += [start + i for i in aligned.indices]
        failures += aligned.failures
        if progress:
            progress(min(start + batch_size, len(paths)), len(paths))
    return np.concatenate(chunks), np.array(indices, dtype=np.int64), failures


def embed_faces(embedder, faces, fixed_standardization=False, batch_size=100):
    """Set ``face.embedding`` of each Face with an ``embedding.Embedder``; returns N x D."""
    if not faces:
        return np.zeros((0, embedder.embedding_size), np.float32)
    embeddings = embedder.embed(standardize([face.image for face in faces],
                                            fixed_standardization), batch_size)
    for face, embedding in zip(faces, embeddings):
        face.embedding = embedding
    return embeddings


def distance_matrix_lines(distances):
    """The classic distance-matrix printout (header of column numbers, one row per image)."""
    lines = ['    ' + ''.join('    %1d     ' % i for i in range(len(distances)))]
    for i, row in enumerate(distances):
        lines.append('%1d  ' % i + ''.join('  %1.4f  ' % distance for distance in row))
    return lines


def distance_matrix(embeddings):
    """Euclidean distances between all rows (N x N), as compare.py prints them."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    differences = embeddings[:, None, :] - embeddings[None, :, :]
    return np.sqrt(np.sum(np.square(differences), axis=2))
