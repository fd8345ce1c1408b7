"""export_model.py and toolkit.modelfiles.export: SavedModel, ONNX and TFLite exports.

A tiny classic-style network (batch norms switching on ``phase_train``) checks the graph
rewrites, every format and the bad inputs in seconds; the two pretrained models are exported
once per module and compared with their frozen graphs on shared LFW faces.
"""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import models
from conftest import shared_path
from toolkit.data import folders as data
from toolkit import cli
from toolkit.errors import FacenetError
from toolkit.modelfiles import loading as model_io
from toolkit.modelfiles import writing
from toolkit.nets.layers import Layers
from toolkit.modelfiles import export, exported, servable
from toolkit.tf_compat import tf
import export_model

TINY_SIZE = 32


def _tiny_graph(phase_train, image_size=TINY_SIZE, with_embeddings=True, batch_size=None):
    """A small FaceNet-shaped network in the default graph (classic public node names)."""
    images = tf.placeholder(tf.float32, [batch_size, image_size, image_size, 3], name='input')
    layers = Layers(phase_train)
    with tf.variable_scope('Tiny'):
        net = layers.conv2d(images, 8, 3, stride=2, scope='Conv1')
        net = layers.conv2d(net, 8, 3, stride=2, scope='Conv2')
        net = tf.reshape(net, [-1, int(np.prod(net.get_shape().as_list()[1:]))])
        net = layers.fully_connected(net, 6, scope='Bottleneck')
    if with_embeddings:
        tf.nn.l2_normalize(net, 1, 1e-10, name='embeddings')
    else:
        tf.identity(net, name='features')


def _write_tiny_model(path, with_embeddings=True, batch_size=None):
    """Freeze the tiny network with random weights and batch statistics into ``path``."""
    rng = np.random.default_rng(1)
    with tf.Graph().as_default():
        phase_train = tf.placeholder_with_default(False, [], name='phase_train')
        _tiny_graph(phase_train, with_embeddings=with_embeddings, batch_size=batch_size)
        with tf.Session() as sess:
            for variable in tf.global_variables():
                shape = variable.shape.as_list()
                value = rng.uniform(0.5, 1.5, shape) if 'variance' in variable.name \
                    else rng.normal(0, 0.3, shape)
                variable.load(value.astype(np.float32), sess)
            output = 'embeddings' if with_embeddings else 'features'
            graph_def = sess.graph.as_graph_def()
            for node in graph_def.node:  # the fix-ups of the classic freeze_graph.py
                if node.op == 'RefSwitch':
                    node.op = 'Switch'
                    node.input[0] += '/read'
                elif node.op == 'AssignSub':
                    node.op = 'Sub'
                    del node.attr['use_locking']
            frozen = tf.graph_util.convert_variables_to_constants(
                sess, graph_def, [output, 'phase_train'])
    writing.write_graph_def(frozen, str(path))
    return str(path)


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    return _write_tiny_model(tmp_path_factory.mktemp('tiny') / 'tiny.pb')


def _faces(count=4, size=TINY_SIZE, seed=3):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def frozen_embeddings(model, images, fixed=False):
    """Embeddings of the model's own frozen graph fed with numpy-standardized images."""
    standardize = data.fixed_standardization if fixed else data.prewhiten
    inputs = np.stack([standardize(image) for image in images]).astype(np.float32)
    config = tf.ConfigProto()  # Grappler's rewrites take seconds on a large graph
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    with tf.Graph().as_default():
        tf.import_graph_def(model_io.read_graph_def(model), name='')
        with tf.Session(config=config) as sess:
            tensors = model_io.get_model_tensors()
            return sess.run(tensors.embeddings, model_io.inference_feed(tensors, inputs))


# -- graph rewrites ----------------------------------------------------------------------------

def test_classic_switches_resolve_and_batch_norms_fold(tiny_model):
    original = model_io.read_graph_def(tiny_model)
    assert any(node.op == 'Switch' for node in original.node)
    network = servable.load_network(tiny_model, TINY_SIZE, networks=models.import_network)
    assert servable.training_nodes(network.graph_def) == ['input']
    assert network.embedding_size == 6
    serving = servable.serving_graph_def(network)
    assert servable.training_nodes(serving) == []
    faces = _faces()
    expected = frozen_embeddings(tiny_model, faces)
    actual = exported.GraphRunner(serving).embed(faces)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_fixed_standardization_and_float_input(tiny_model):
    network = servable.load_network(tiny_model, TINY_SIZE, networks=models.import_network)
    faces = _faces()
    fixed = exported.GraphRunner(servable.serving_graph_def(network, True)).embed(faces)
    np.testing.assert_allclose(fixed, frozen_embeddings(tiny_model, faces, True), atol=1e-5)
    floats = np.stack([data.prewhiten(face) for face in faces]).astype(np.float32)
    runner = exported.GraphRunner(servable.serving_graph_def(network, float_input=True))
    assert runner.images.dtype == tf.float32
    np.testing.assert_allclose(runner.embed(floats), frozen_embeddings(tiny_model, faces),
                               atol=1e-5)


def test_a_graph_frozen_with_a_fixed_batch_size_exports_for_any_batch(tmp_path):
    model = _write_tiny_model(tmp_path / 'batch1.pb', batch_size=1)
    output = str(tmp_path / 'batch1.onnx')
    _run([model, output, '--image_size', TINY_SIZE])
    faces = _faces(3)
    np.testing.assert_allclose(exported.open_exported(output).embed(faces),
                               frozen_embeddings(model, faces), atol=1e-5)


# -- every format on the tiny model ------------------------------------------------------------

@pytest.mark.parametrize('name, quantize, tolerance', [
    ('tiny_saved_model', None, 1e-5), ('tiny.onnx', None, 1e-5), ('tiny.tflite', None, 1e-5),
    ('tiny_dynamic.tflite', 'dynamic', None), ('tiny_float16.tflite', 'float16', None)])
def test_script_exports_each_format(tiny_model, tmp_path, capsys, name, quantize, tolerance):
    output = str(tmp_path / name)
    argv = [tiny_model, output, '--image_size', str(TINY_SIZE)]
    if quantize:
        argv += ['--quantize', quantize]
    assert export_model.main(export_model.parse_arguments(argv)) == 0
    assert 'Checked against the frozen graph' in capsys.readouterr().out
    runner = exported.open_exported(output)
    faces = _faces(5)
    actual, expected = runner.embed(faces), frozen_embeddings(tiny_model, faces)
    assert actual.shape == (5, 6) and actual.dtype == np.float32
    if tolerance:
        np.testing.assert_allclose(actual, expected, atol=tolerance)
    else:
        assert export.compare_embeddings(expected, actual).min_cosine > 0.99
    assert runner.embed(faces[:1]).shape == (1, 6)  # any batch size
    assert os.listdir(str(tmp_path)) == [name]  # no temporary leftovers


def test_tflite_quantization_shrinks_the_file(tiny_model, tmp_path):
    network = servable.load_network(tiny_model, TINY_SIZE, networks=models.import_network)
    sizes = {}
    for quantize in (None, 'dynamic', 'float16'):
        path = str(tmp_path / ('%s.tflite' % quantize))
        export.export(network, path, 'tflite', quantize=quantize)
        sizes[quantize] = os.path.getsize(path)
    assert sizes['dynamic'] < sizes['float16'] < sizes[None]


# -- the SavedModel's signatures ---------------------------------------------------------------

def _encoded(image, image_format):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


@pytest.fixture(scope='module')
def tiny_saved_model(tiny_model, tmp_path_factory):
    output = str(tmp_path_factory.mktemp('sm') / 'tiny')
    network = servable.load_network(tiny_model, TINY_SIZE, networks=models.import_network)
    export.export(network, output, 'saved_model')
    return output


def test_saved_model_embeds_encoded_png_and_jpeg(tiny_saved_model):
    runner = exported.SavedModelRunner(tiny_saved_model)
    assert set(runner.signatures) == {'serving_default', 'embed_encoded'}
    faces = _faces(3)
    direct = runner.embed(faces)
    from_png = runner.embed_encoded([_encoded(face, 'PNG') for face in faces])
    np.testing.assert_allclose(from_png, direct, atol=1e-6)
    smooth = np.repeat(np.repeat(faces[:, ::4, ::4], 4, 1), 4, 2)  # JPEG keeps smooth images
    from_jpeg = runner.embed_encoded([_encoded(face, 'JPEG') for face in smooth])
    assert export.compare_embeddings(runner.embed(smooth), from_jpeg).min_cosine > 0.95


@pytest.mark.parametrize('payload, message', [
    (b'this is not an image', 'embed_encoded: the input is not a JPEG or PNG image'),
    (b'\x89PNG\r\n\x1a\n broken', 'PNG'),
    ('wrong_size', 'embed_encoded takes 32x32 aligned faces')])
def test_embed_encoded_rejects_bad_images_with_a_clear_error(tiny_saved_model, payload, message):
    runner = exported.SavedModelRunner(tiny_saved_model)
    if payload == 'wrong_size':
        payload = _encoded(_faces(1, 20)[0], 'PNG')
    good = _encoded(_faces(1)[0], 'PNG')
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        runner.embed_encoded([good, payload])
    assert runner.embed_encoded([good]).shape == (1, 6)  # the model still serves


# -- bad inputs --------------------------------------------------------------------------------

def _run(argv):
    return export_model.main(export_model.parse_arguments([str(a) for a in argv]))


def test_model_without_embeddings_is_refused(tmp_path):
    model = _write_tiny_model(tmp_path / 'features.pb', with_embeddings=False)
    with pytest.raises(FacenetError, match='no "embeddings" tensor'):
        _run([model, tmp_path / 'out', '--image_size', TINY_SIZE])
    assert not os.path.exists(tmp_path / 'out')


def test_image_size_the_model_cannot_take(tiny_model, tmp_path):
    with pytest.raises(FacenetError, match='cannot take 48x48 images'):
        _run([tiny_model, tmp_path / 'out.onnx', '--image_size', 48])


def test_existing_output_needs_force(tiny_model, tmp_path):
    output = tmp_path / 'model'
    output.mkdir()
    (output / 'keep.txt').write_text('mine')
    with pytest.raises(FacenetError, match='exists; use --force'):
        _run([tiny_model, output, '--image_size', TINY_SIZE])
    assert (output / 'keep.txt').read_text() == 'mine'
    _run([tiny_model, output, '--image_size', TINY_SIZE, '--force'])
    assert sorted(os.listdir(output)) == ['saved_model.pb', 'variables']


@pytest.mark.parametrize('argv, message', [
    (['out.onnx', '--quantize', 'dynamic'], '--quantize applies to the tflite format only'),
    (['out.tflite', '--detector'], '--detector needs the saved_model format'),
    (['out', '--format', 'onnx', '--detector'], '--detector needs the saved_model format')])
def test_option_combinations_that_cannot_work(tiny_model, tmp_path, argv, message):
    with pytest.raises(FacenetError, match=message):
        _run([tiny_model, tmp_path / argv[0]] + argv[1:])


def test_missing_converter_is_named(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'tf2onnx', None)
    with pytest.raises(FacenetError, match='ONNX export needs the tf2onnx package'):
        _run([tiny_model, tmp_path / 'out.onnx', '--image_size', TINY_SIZE])
    assert os.listdir(tmp_path) == []


def test_missing_tflite_converter_and_onnxruntime_are_named(tiny_model, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(export.tf, 'lite', None)
    with pytest.raises(FacenetError, match='TFLite export needs tf.lite.TFLiteConverter'):
        _run([tiny_model, tmp_path / 'out.tflite', '--image_size', TINY_SIZE])
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(FacenetError, match='needs the onnxruntime package'):
        exported.OnnxRunner(str(tmp_path / 'any.onnx'))
    assert os.listdir(tmp_path) == []


def test_failed_conversion_leaves_nothing(tiny_model, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise FacenetError('the TFLite converter failed: boom')
    monkeypatch.setattr(export, 'tflite_model', fail)
    with pytest.raises(FacenetError, match='boom'):
        _run([tiny_model, tmp_path / 'out.tflite', '--image_size', TINY_SIZE])
    assert os.listdir(tmp_path) == []


def test_script_errors_are_one_line(tiny_model, tmp_path, capsys):
    argv = [tiny_model, str(tmp_path / 'x.onnx'), '--quantize', 'float16']
    with pytest.raises(SystemExit) as exit_info:
        cli.run(export_model.main, export_model.parse_arguments, argv)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == (
        'error: --quantize applies to the tflite format only (not onnx)\n')


# -- detect_and_embed ----------------------------------------------------------------------

REFERENCE_IMAGES = 12  # every 11th of the 133 reference images


@pytest.fixture(scope='module')
def tiny_detector_model(tiny_model, tmp_path_factory):
    output = str(tmp_path_factory.mktemp('det') / 'tiny_detector')
    _run([tiny_model, output, '--image_size', TINY_SIZE, '--detector', '--margin', 32])
    return exported.SavedModelRunner(output)


def test_detect_and_embed_matches_the_reference_detections(tiny_detector_model):
    with open(shared_path('reference', 'mtcnn_detections.json')) as handle:
        reference = json.load(handle)[::11][:REFERENCE_IMAGES]
    assert 'detect_and_embed' in tiny_detector_model.signatures
    faces = matched = 0
    for entry in reference:
        with open(shared_path('data', 'lfw', 'images_deepfunneled', entry['image']), 'rb') as f:
            out = tiny_detector_model.detect_and_embed(f.read())
        boxes, points = np.array(entry['boxes']), np.array(entry['points'])
        assert out['boxes'].shape == (len(boxes), 5), entry['image']
        assert out['landmarks'].shape == (len(boxes), 10)
        assert out['embeddings'].shape == (len(boxes), 6)
        for box, point in zip(boxes, points):
            nearest = np.argmin(np.abs(out['boxes'][:, :4] - box[:4]).max(1))
            faces += 1
            matched += (np.abs(out['boxes'][nearest, :4] - box[:4]).max() <= 1
                        and np.abs(out['landmarks'][nearest] - point).max() <= 1)
            assert abs(out['boxes'][nearest, 4] - box[4]) < 1e-3
    assert matched >= 0.97 * faces and faces >= REFERENCE_IMAGES


def test_detect_and_embed_without_faces_and_with_bad_images(tiny_detector_model):
    blank = tiny_detector_model.detect_and_embed(_encoded(np.full((90, 120, 3), 128, np.uint8),
                                                          'PNG'))
    assert {key: value.shape for key, value in blank.items()} == {
        'boxes': (0, 5), 'landmarks': (0, 10), 'embeddings': (0, 6)}
    tiny = tiny_detector_model.detect_and_embed(_encoded(np.zeros((8, 8, 3), np.uint8), 'PNG'))
    assert tiny['boxes'].shape == (0, 5)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match='detect_and_embed: the input is not a JPEG or PNG image'):
        tiny_detector_model.detect_and_embed(b'GIF? no, plain text')
    with pytest.raises(tf.errors.InvalidArgumentError):
        tiny_detector_model.detect_and_embed(b'\xff\xd8\xff\xe0 truncated jpeg')


def test_saved_model_cli_lists_the_signatures(tiny_detector_model):
    cli_path = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
    if not os.path.exists(cli_path):
        pytest.skip('saved_model_cli is not installed next to %s' % sys.executable)
    result = subprocess.run([cli_path, 'show', '--dir', tiny_detector_model.path, '--all'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("signature_def['serving_default']", "signature_def['embed_encoded']",
                 "signature_def['detect_and_embed']", "inputs['images'] tensor_info",
                 "inputs['encoded'] tensor_info", "inputs['image'] tensor_info",
                 "outputs['boxes'] tensor_info", "outputs['landmarks'] tensor_info"):
        assert line in result.stdout
    assert 'dtype: DT_UINT8' in result.stdout
