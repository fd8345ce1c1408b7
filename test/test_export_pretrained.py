"""The pretrained models exported to every format and compared with their frozen graphs on
shared LFW faces.

Each (model, format) is exported at most once per test session and each model's export
network (frozen, folded) is built once and shared by its formats; ``tmp/bench_export.py``
validates every format of both models on the whole LFW.
"""
import base64
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import models
from align import graph_detector
from align.detector import FaceDetector
from conftest import shared_path
from toolkit.modelfiles import export, exported, servable
from toolkit.data import folders
from test_export_model import frozen_embeddings

# model fixture -> (frozen graph file, fixed standardization, embedding size)
MODELS = {'model_128': ('20170512-110547.pb', False, 128),
          'model_512': ('20180408-102900.pb', True, 512)}
# format -> (output name, quantization)
FORMATS = {'saved_model': (os.path.join('serving', 'facenet', '1'), None), 'onnx': ('model.onnx', None),
           'tflite': ('model.tflite', None), 'dynamic': ('dynamic.tflite', 'dynamic'),
           'float16': ('float16.tflite', 'float16')}
FLOAT_TOLERANCE = 1e-4
QUANTIZED_MIN_COSINE = 0.999


@pytest.fixture(scope='session')
def lfw_faces():
    """16 aligned 160 x 160 LFW faces (the shared reference forward pass's inputs)."""
    return np.load(shared_path('reference', 'inception_resnet_v1_forward.npz'))['images']


class PretrainedExports:
    """Exports of the pretrained models, made on first use and kept for the session."""

    def __init__(self, request, faces, folder):
        self.request, self.faces, self.folder = request, faces, folder
        self.networks, self.frozen, self.paths, self.embeddings = {}, {}, {}, {}
        self.saved_models = {}

    def model_dir(self, model):
        return self.request.getfixturevalue(model)

    def network(self, model):
        if model not in self.networks:
            self.networks[model] = servable.load_network(self.model_dir(model),
                                                         networks=models.import_network)
        return self.networks[model]

    def frozen_embeddings(self, model):
        if model not in self.frozen:
            graph_file, fixed, _ = MODELS[model]
            self.frozen[model] = frozen_embeddings(
                os.path.join(self.model_dir(model), graph_file), self.faces, fixed)
        return self.frozen[model]

    def path(self, model, export_format):
        """The export of ``model`` in ``export_format`` (a SavedModel has the detector)."""
        key = (model, export_format)
        if key not in self.paths:
            name, quantize = FORMATS[export_format]
            path = os.path.join(self.folder, '%s_%s' % (model, name))
            network = self.network(model)
            kind = export.output_format(path)
            detector = (graph_detector.face_detector(32, network.image_size)
                        if kind == 'saved_model' else None)
            float_tflite = self.path(model, 'tflite') if quantize == 'dynamic' else None
            export.export(network, path, kind, MODELS[model][1], quantize=quantize,
                          detector=detector, float_tflite=float_tflite)
            self.paths[key] = path
        return self.paths[key]

    def saved_model(self, model):
        """The model's SavedModel, loaded (kept open for the session's tests)."""
        if model not in self.saved_models:
            self.saved_models[model] = exported.SavedModelRunner(self.path(model, 'saved_model'))
        return self.saved_models[model]

    def export_embeddings(self, model, export_format):
        key = (model, export_format)
        if key not in self.embeddings:
            if export_format == 'saved_model':
                self.embeddings[key] = self.saved_model(model).embed(self.faces)
            else:
                runner = exported.open_exported(self.path(model, export_format))
                self.embeddings[key] = runner.embed(self.faces)
                runner.close()
        return self.embeddings[key]

    def close(self):
        for runner in self.saved_models.values():
            runner.close()


@pytest.fixture(scope='session')
def pretrained_exports(request, lfw_faces, tmp_path_factory):
    exports = PretrainedExports(request, lfw_faces, str(tmp_path_factory.mktemp('exports')))
    yield exports
    exports.close()


@pytest.mark.parametrize('export_format', list(FORMATS))
@pytest.mark.parametrize('model', list(MODELS))
def test_every_export_of_both_models_matches_the_frozen_graph(pretrained_exports, model,
                                                              export_format):
    expected = pretrained_exports.frozen_embeddings(model)
    actual = pretrained_exports.export_embeddings(model, export_format)
    assert actual.shape == (16, MODELS[model][2]) and actual.dtype == np.float32
    if FORMATS[export_format][1]:
        check = export.compare_embeddings(expected, actual)
        assert check.min_cosine >= QUANTIZED_MIN_COSINE, check
    else:
        np.testing.assert_allclose(actual, expected, atol=FLOAT_TOLERANCE)


@pytest.mark.parametrize('model', list(MODELS))
def test_quantized_files_are_smaller(pretrained_exports, model):
    frozen = os.path.getsize(os.path.join(pretrained_exports.model_dir(model), MODELS[model][0]))
    assert os.path.getsize(pretrained_exports.path(model, 'dynamic')) < frozen / 3.5
    assert os.path.getsize(pretrained_exports.path(model, 'float16')) < frozen / 1.9


def _encoded(image, image_format):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


# A stand-in for TF Serving's REST front (the model server is not installable here): it
# turns a predict request body into tensors as the server documents it ("instances": one
# row per batch element of the signature's single input; "inputs": named, columnar;
# {"b64": ...} is a string's bytes), calls the signature of a SavedModel loaded by plain
# TensorFlow 2 (none of our code on the path) and answers {"predictions": ...} (rows) or
# {"outputs": {...}} (columns).
REST_SCRIPT = """
import base64, importlib.util, json, sys
import tensorflow as tf
assert importlib.util.find_spec("toolkit") is None
model = tf.saved_model.load(sys.argv[1])

def tensor(value):
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return [tensor(item) for item in value] if isinstance(value, list) else value

def predict(body):
    signature = model.signatures[body.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        (name, spec), = specs.items()
        inputs = {name: tensor(body["instances"])}
    else:
        inputs = {name: tensor(value) for name, value in body["inputs"].items()}
    outputs = signature(**{name: tf.constant(value, specs[name].dtype)
                           for name, value in inputs.items()})
    outputs = {name: value.numpy().tolist() for name, value in outputs.items()}
    if "instances" in body:
        return {"predictions": next(iter(outputs.values())) if len(outputs) == 1 else
                [dict(zip(outputs, row)) for row in zip(*outputs.values())]}
    return {"outputs": outputs}

for path in sys.argv[2:]:
    with open(path) as handle:
        print(json.dumps(predict(json.load(handle))))
"""


def _b64(data):
    return {'b64': base64.b64encode(data).decode('ascii')}


def test_rest_requests_of_the_readme_through_a_fresh_tensorflow_process(pretrained_exports,
                                                                        lfw_faces, tmp_path):
    """The SavedModel sits in TF Serving's <base>/<version>/ layout; the README's request
    bodies (embed_encoded with base64 PNG and JPEG faces, detect_and_embed with a photo)
    and a serving_default one with pixels give the frozen graph's embeddings and the
    in-process detect_and_embed's answer."""
    expected = pretrained_exports.frozen_embeddings('model_128')
    saved_model = pretrained_exports.path('model_128', 'saved_model')
    assert saved_model.endswith(os.path.join('serving', 'facenet', '1'))
    assert {'saved_model.pb', 'variables'} <= set(os.listdir(saved_model))
    assert {'variables.index', 'variables.data-00000-of-00001'} <= set(
        os.listdir(os.path.join(saved_model, 'variables')))
    faces = lfw_faces[:4]
    photo_path = shared_path('data', 'lfw', 'images_deepfunneled', 'Aaron_Peirsol',
                             'Aaron_Peirsol_0001.jpg')
    with open(photo_path, 'rb') as handle:
        photo = handle.read()
    bodies = {
        'pixels': {'instances': faces.tolist()},
        'png': {'signature_name': 'embed_encoded',
                'instances': [_b64(_encoded(face, 'PNG')) for face in faces]},
        'jpeg': {'signature_name': 'embed_encoded',
                 'instances': [_b64(_encoded(face, 'JPEG')) for face in faces]},
        'photo': {'signature_name': 'detect_and_embed', 'inputs': {'image': _b64(photo)}}}
    paths = []
    for name, body in bodies.items():
        paths.append(str(tmp_path / (name + '.json')))
        with open(paths[-1], 'w') as handle:
            json.dump(body, handle)
    result = subprocess.run([sys.executable, '-c', REST_SCRIPT, saved_model] + paths,
                            capture_output=True, text=True, cwd='/', timeout=300,
                            env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
    assert result.returncode == 0, result.stderr[-2000:]
    answers = dict(zip(bodies, map(json.loads, result.stdout.splitlines()[-len(bodies):])))
    np.testing.assert_allclose(answers['pixels']['predictions'], expected[:4], atol=1e-4)
    np.testing.assert_allclose(answers['png']['predictions'], expected[:4], atol=1e-4)
    jpeg = np.array(answers['jpeg']['predictions'])
    assert export.compare_embeddings(expected[:4], jpeg).min_cosine > 0.99
    detected = pretrained_exports.saved_model('model_128').detect_and_embed(photo)
    assert set(answers['photo']['outputs']) == {'boxes', 'landmarks', 'embeddings'}
    for key, value in detected.items():
        assert len(value) >= 1
        np.testing.assert_allclose(answers['photo']['outputs'][key], value, atol=1e-3)


def test_detect_and_embed_matches_serving_default_on_the_aligners_crops(pretrained_exports):
    """The aligner's crop (MTCNN box + margin 32, bilinear 160 px: what
    align_dataset_mtcnn.py writes as PNG) through serving_default, against detect_and_embed
    on the original JPEG (photos of the MTCNN reference, where both detectors agree)."""
    runner = pretrained_exports.saved_model('model_128')
    with open(shared_path('reference', 'mtcnn_detections.json')) as handle:
        names = [entry['image'] for entry in json.load(handle)[::20]][:5]
    with FaceDetector() as detector:
        for name in names:
            path = shared_path('data', 'lfw', 'images_deepfunneled', name)
            face, = detector.find_faces(folders.read_rgb_image(path), 32, 160,
                                        main_face_only=True)
            with open(path, 'rb') as handle:
                out = runner.detect_and_embed(handle.read())
            index = np.argmin(np.abs(out['boxes'][:, :4] - face.detection[:4]).max(1))
            assert np.abs(out['boxes'][index, :4] - face.detection[:4]).max() <= 1
            aligned = runner.embed(face.image[None])
            cosine = export.compare_embeddings(aligned, out['embeddings'][index:index + 1])
            assert cosine.min_cosine >= 0.99, name


def test_dynamic_tflite_keeps_its_first_convolutions_float(pretrained_exports):
    """Only the leading convolutions that the converter made int8 are float32 again."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    model = flatbuffer_utils.read_model(pretrained_exports.path('model_128', 'dynamic'))
    graph = model.subgraphs[0]
    filter_types = [graph.tensors[op.inputs[1]].type for op in graph.operators
                    if model.operatorCodes[op.opcodeIndex].builtinCode
                    == schema.BuiltinOperator.CONV_2D]
    float_count = 1 + export.FLOAT_LEADING_CONVOLUTIONS  # Conv2d_1a_3x3 is too small to quantize
    assert len(filter_types) == 132
    assert set(filter_types[:float_count]) == {schema.TensorType.FLOAT32}
    assert set(filter_types[float_count:]) == {schema.TensorType.INT8}
