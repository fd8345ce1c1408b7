"""The pretrained models exported and compared with their frozen graphs on shared LFW faces.

Each model is exported once per module (the time budget allows one conversion per format
and model: the 128-d model as SavedModel, ONNX and TFLite float32, the 512-d one as TFLite
dynamic and float16); ``tmp/bench_export.py`` validates every format of both on LFW.
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
from align import graph_detector
from align.detector import FaceDetector
from conftest import shared_path
from toolkit.modelfiles import export, exported, servable
from toolkit.data import folders
from test_export_model import frozen_embeddings


@pytest.fixture(scope='module')
def lfw_faces():
    """16 aligned 160 x 160 LFW faces (the shared reference forward pass's inputs)."""
    return np.load(shared_path('reference', 'inception_resnet_v1_forward.npz'))['images']


def _export_all(model, pb_path, fixed, outputs, folder, faces):
    """Export ``model`` to ``outputs`` ({file name: quantize}; the SavedModel with the
    detector); embeddings of each and the frozen graph's."""
    network = servable.load_network(model, networks=models.import_network)
    results = {}
    for name, quantize in outputs.items():
        path = os.path.join(folder, name)
        export_format = export.output_format(path)
        detector = (graph_detector.face_detector(32, network.image_size)
                    if export_format == 'saved_model' else None)
        export.export(network, path, export_format, fixed, quantize=quantize,
                      detector=detector)
        runner = exported.open_exported(path)
        results[name] = runner.embed(faces)
        runner.close()
    return frozen_embeddings(pb_path, faces, fixed), results, folder


@pytest.fixture(scope='module')
def exports_128(model_128, lfw_faces, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('export_128'))
    return _export_all(model_128, os.path.join(model_128, '20170512-110547.pb'), False,
                       {'saved_model': None, 'model.onnx': None, 'model.tflite': None},
                       folder, lfw_faces)


@pytest.fixture(scope='module')
def exports_512(model_512, lfw_faces, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('export_512'))
    return _export_all(model_512, os.path.join(model_512, '20180408-102900.pb'), True,
                       {'dynamic.tflite': 'dynamic', 'float16.tflite': 'float16'},
                       folder, lfw_faces)


@pytest.mark.parametrize('name', ['saved_model', 'model.onnx', 'model.tflite'])
def test_float_exports_of_the_128_model_match_the_frozen_graph(exports_128, name):
    expected, results, _ = exports_128
    assert results[name].shape == (16, 128)
    np.testing.assert_allclose(results[name], expected, atol=1e-4)


@pytest.mark.parametrize('name', ['dynamic.tflite', 'float16.tflite'])
def test_quantized_tflite_of_the_512_model_keeps_the_directions(exports_512, name):
    expected, results, folder = exports_512
    assert results[name].shape == (16, 512)
    assert export.compare_embeddings(expected, results[name]).min_cosine >= 0.999


def test_quantized_files_are_smaller(exports_512, model_512):
    _, _, folder = exports_512
    frozen = os.path.getsize(os.path.join(model_512, '20180408-102900.pb'))
    assert os.path.getsize(os.path.join(folder, 'dynamic.tflite')) < frozen / 3.5
    assert os.path.getsize(os.path.join(folder, 'float16.tflite')) < frozen / 1.9


def _encoded(image, image_format):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


def test_saved_model_in_a_fresh_process_embeds_pixels_jpeg_and_png(exports_128, lfw_faces,
                                                                   tmp_path):
    expected, _, folder = exports_128
    faces = lfw_faces[:4]
    for index, face in enumerate(faces):
        for image_format in ('PNG', 'JPEG'):
            (tmp_path / ('%d.%s' % (index, image_format))).write_bytes(
                _encoded(face, image_format))
    np.save(tmp_path / 'faces.npy', faces)
    script = (
        'import importlib.util, json, sys\n'
        'import numpy as np, tensorflow as tf\n'
        'assert importlib.util.find_spec("toolkit") is None\n'
        'model = tf.saved_model.load(sys.argv[1])\n'
        'folder = sys.argv[2]\n'
        'faces = np.load(folder + "/faces.npy")\n'
        'def read(kind):\n'
        '    return tf.constant([open("%s/%d.%s" % (folder, i, kind), "rb").read()\n'
        '                        for i in range(len(faces))])\n'
        'out = {"pixels": model.signatures["serving_default"](images=tf.constant(faces)),\n'
        '       "png": model.signatures["embed_encoded"](encoded=read("PNG")),\n'
        '       "jpeg": model.signatures["embed_encoded"](encoded=read("JPEG"))}\n'
        'print(json.dumps({k: v["embeddings"].numpy().tolist() for k, v in out.items()}))\n')
    result = subprocess.run([sys.executable, '-c', script, os.path.join(folder, 'saved_model'),
                             str(tmp_path)], capture_output=True, text=True, cwd='/',
                            env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = {k: np.array(v) for k, v in json.loads(result.stdout.splitlines()[-1]).items()}
    np.testing.assert_allclose(out['pixels'], expected[:4], atol=1e-4)
    np.testing.assert_allclose(out['png'], expected[:4], atol=1e-4)
    assert export.compare_embeddings(expected[:4], out['jpeg']).min_cosine > 0.99


def test_detect_and_embed_matches_serving_default_on_the_aligners_crops(exports_128):
    """The aligner's crop (MTCNN box + margin 32, bilinear 160 px: what
    align_dataset_mtcnn.py writes as PNG) through serving_default, against detect_and_embed
    on the original JPEG (photos of the MTCNN reference, where both detectors agree)."""
    _, _, folder = exports_128
    runner = exported.SavedModelRunner(os.path.join(folder, 'saved_model'))
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
