"""Test setup: import paths, the shared reference folder, and common fixtures."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, 'src')
for path in (SRC, os.path.join(ROOT, 'contributed'), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

SHARED = os.environ.get('FACENET_SHARED', os.path.join(os.path.dirname(ROOT), 'shared'))
LFW_DIR = os.path.join(SHARED, 'data', 'lfw', 'images_deepfunneled')
LFW_PAIRS = os.path.join(SHARED, 'data', 'lfw', 'pairs.txt')
REFERENCE_DIR = os.path.join(SHARED, 'reference')


def shared_path(*parts):
    """Path inside ../shared, skipping the test when it is absent (a user's fresh clone)."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip('needs the shared test material (%s is absent)' % path)
    return path
