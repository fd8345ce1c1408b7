"""tf_compat's graph-core import: the MTCNN detector built without TensorFlow's whole package
is the same graph with the same faces, and any other name still works (the whole package is
then imported)."""
import functools
import hashlib
import importlib
import json
import subprocess
import sys

import numpy as np

from conftest import ROOT, shared_path
from toolkit import tf_compat
from toolkit.data.folders import read_rgb_image

IMAGE = ('data', 'lfw', 'images_deepfunneled', 'Aaron_Peirsol', 'Aaron_Peirsol_0001.jpg')

# Builds the detector after use_graph_core(), detects one image, then uses a name outside
# the graph core and detects again with the same session.
ON_THE_CORE = r'''
import hashlib, json, sys
sys.path.insert(0, sys.argv[1] + '/src')
from toolkit import tf_compat
from toolkit.data.folders import read_rgb_image
assert tf_compat.use_graph_core()
from align.detector import FaceDetector
from toolkit.tf_compat import tf
image = read_rgb_image(sys.argv[2])
detector = FaceDetector()
graph = detector.graph.as_graph_def().SerializeToString(deterministic=True)
boxes = detector.detect(image)[0]
report = {'graph': hashlib.sha256(graph).hexdigest(), 'boxes': boxes.tolist(),
          'whole_package': 'tensorflow._api.v2.compat.v1' in sys.modules,
          'version': sys.modules['tensorflow'].__version__, 'repr': repr(tf)}
with tf.Graph().as_default():
    six = tf.constant(2.0) * 3.0  # tf.constant is not in the graph core
    with tf.Session() as sess:
        report['six'] = float(sess.run(six))
report['relu'] = tf.nn.relu.__name__  # nor tf.nn.relu
report['after'] = 'tensorflow._api.v2.compat.v1' in sys.modules
report['boxes_after'] = detector.detect(image)[0].tolist()
print(json.dumps(report))
'''


def test_graph_core_names_are_the_objects_of_tensorflow_compat_v1():
    v1 = tf_compat.tensorflow_module().compat.v1
    for name, (module, attribute) in tf_compat.GRAPH_CORE.items():
        expected = functools.reduce(getattr, name.split('.'), v1)
        assert getattr(importlib.import_module(module), attribute) is expected, name


def test_detector_on_the_graph_core_is_the_same_graph_with_the_same_faces():
    from align.detector import FaceDetector
    image_path = shared_path(*IMAGE)
    result = subprocess.run([sys.executable, '-c', ON_THE_CORE, ROOT, image_path],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # No deprecation warnings, no start-up lines, no oneDNN error line at the first run.
    assert result.stderr == ''
    report = json.loads(result.stdout.strip().splitlines()[-1])
    with FaceDetector() as detector:
        graph = detector.graph.as_graph_def().SerializeToString(deterministic=True)
        boxes = detector.detect(read_rgb_image(image_path))[0]
    assert report['whole_package'] is False
    assert report['repr'] == '<TensorFlow module tensorflow.compat.v1 (graph core)>'
    assert report['version'] == tf_compat.tensorflow_module().__version__
    assert report['graph'] == hashlib.sha256(graph).hexdigest()
    assert len(boxes) == 1
    np.testing.assert_array_equal(np.array(report['boxes']), boxes)
    # A name outside the core imported the whole package; the core's session runs on.
    assert report['six'] == 6.0 and report['relu'] == 'relu' and report['after'] is True
    np.testing.assert_array_equal(np.array(report['boxes_after']), boxes)


def test_graph_core_is_not_used_once_tensorflow_is_imported():
    tf_compat.tensorflow_module()
    assert tf_compat.use_graph_core() is False
