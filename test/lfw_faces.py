"""A few real LFW faces for the tests of classifier, compare and the contributed tools.

``aligned_lfw()`` aligns a handful of people with our MTCNN (160 x 160, margin 32 as the
classic aligner) into a temporary folder once per test process; later calls reuse it.
"""
import atexit
import functools
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from conftest import shared_path

# Four people the classifier learns, and one it never sees (the unknown-person tests).
KNOWN_PEOPLE = ('Colin_Powell', 'Junichiro_Koizumi', 'Serena_Williams', 'Tony_Blair')
UNKNOWN_PERSON = 'Vladimir_Putin'
NROF_IMAGES = 8
NROF_UNKNOWN_IMAGES = 4


def raw_lfw_image(name, number):
    """Path of an original 250 x 250 LFW image, e.g. ('Tony_Blair', 1)."""
    return shared_path('data', 'lfw', 'images_deepfunneled', name, '%s_%04d.jpg' % (name, number))


@functools.lru_cache(maxsize=None)
def _aligned_root():
    from align.detector import FaceDetector
    from toolkit.data import folders
    root = tempfile.mkdtemp(prefix='facenet_test_lfw_')
    atexit.register(shutil.rmtree, root, True)
    wanted = [(name, NROF_IMAGES) for name in KNOWN_PEOPLE] + [(UNKNOWN_PERSON,
                                                                NROF_UNKNOWN_IMAGES)]
    with FaceDetector() as detector:
        for name, count in wanted:
            folder = os.path.join(root, 'known' if name in KNOWN_PEOPLE else 'unknown', name)
            os.makedirs(folder)
            for number in range(1, count + 1):
                path = raw_lfw_image(name, number)
                found = detector.find_faces(folders.read_rgb_image(path), 32, 160,
                                            main_face_only=True)
                assert found, 'no face in %s' % path
                Image.fromarray(found[0].image).save(
                    os.path.join(folder, os.path.basename(path).replace('.jpg', '.png')))
    return root


def aligned_lfw():
    """``(known_dir, unknown_dir)``: folders of aligned 160 x 160 faces, one per person."""
    shared_path('data', 'lfw', 'images_deepfunneled')
    root = _aligned_root()
    return os.path.join(root, 'known'), os.path.join(root, 'unknown')


def aligned_images(folder):
    """All images below ``folder`` as uint8 N x H x W x 3, with their paths (sorted)."""
    paths = sorted(os.path.join(dirpath, name) for dirpath, _, names in os.walk(folder)
                   for name in names)
    return np.stack([np.asarray(Image.open(path)) for path in paths]), paths
