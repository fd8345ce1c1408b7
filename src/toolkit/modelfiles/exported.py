"""Running exported models in their own runtimes, and checking them against the frozen graph.

``open_exported(path)`` returns a runner with ``embed(images)`` for any export format: the
SavedModel through TensorFlow's loader (plus ``embed_encoded`` and ``detect_and_embed``),
ONNX through onnxruntime, TFLite through TensorFlow's TFLite interpreter.
"""
import warnings

import numpy as np

from toolkit.errors import FacenetError
from toolkit.modelfiles import export, servable
from toolkit.modelfiles import loading as model_io
from toolkit.tf_compat import tf


class GraphRunner:
    """A GraphDef (the frozen serving graph) in its own session."""

    def __init__(self, graph_def):
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.import_graph_def(graph_def, name='')
        self.session = tf.Session(graph=self.graph)
        self.images = self.graph.get_tensor_by_name(servable.IMAGES_NAME + ':0')
        self.embeddings = self.graph.get_tensor_by_name(servable.EMBEDDINGS_NAME + ':0')

    def embed(self, images):
        return self.session.run(self.embeddings, {self.images: images})

    def close(self):
        self.session.close()


class SavedModelRunner:
    """A SavedModel loaded into its own graph and session; one method per signature."""

    def __init__(self, path):
        self.path = path
        self.graph = tf.Graph()
        self.session = tf.Session(graph=self.graph)
        with self.graph.as_default():
            meta_graph = tf.saved_model.loader.load(self.session, [export.SERVING_TAG], path)
        self.signatures = {name: (self._tensors(signature.inputs),
                                  self._tensors(signature.outputs))
                           for name, signature in meta_graph.signature_def.items()}

    def _tensors(self, infos):
        return {key: self.graph.get_tensor_by_name(info.name) for key, info in infos.items()}

    def run(self, signature, **inputs):
        """Outputs of ``signature`` (a dict) for keyword inputs."""
        if signature not in self.signatures:
            raise FacenetError('the SavedModel has no %s signature' % signature)
        feeds, fetches = self.signatures[signature]
        return self.session.run(fetches, {feeds[key]: value for key, value in inputs.items()})

    def embed(self, images):
        return self.run(export.SERVING_SIGNATURE, images=images)[servable.EMBEDDINGS_NAME]

    def embed_encoded(self, encoded_images):
        return self.run(export.ENCODED_SIGNATURE,
                        encoded=list(encoded_images))[servable.EMBEDDINGS_NAME]

    def detect_and_embed(self, encoded_image):
        return self.run(export.DETECT_SIGNATURE, image=encoded_image)

    def close(self):
        self.session.close()


class OnnxRunner:
    """An ONNX file in an onnxruntime CPU session."""

    def __init__(self, path):
        try:
            import onnxruntime
        except ImportError:
            raise FacenetError('running an ONNX model needs the onnxruntime package '
                               '(pip install -r requirements.txt)') from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(path, options,
                                                    providers=['CPUExecutionProvider'])

    def embed(self, images):
        return self.session.run([servable.EMBEDDINGS_NAME], {servable.IMAGES_NAME: images})[0]

    def close(self):
        self.session = None


class TfliteRunner:
    """A TFLite file in TensorFlow's TFLite interpreter (resized to each batch size)."""

    def __init__(self, path, num_threads=None):
        self.interpreter = tflite_interpreter(path, num_threads)
        self.input_index = self.interpreter.get_input_details()[0]['index']
        self.output_index = self.interpreter.get_output_details()[0]['index']
        self.batch_size = None

    def embed(self, images):
        images = np.asarray(images)
        if self.batch_size != len(images):
            self.interpreter.resize_tensor_input(self.input_index, list(images.shape))
            self.interpreter.allocate_tensors()
            self.batch_size = len(images)
        self.interpreter.set_tensor(self.input_index, images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).copy()

    def close(self):
        self.interpreter = None


def tflite_interpreter(path, num_threads=None):
    """TensorFlow's TFLite interpreter, or LiteRT's (``ai_edge_litert``) where TF has none."""
    interpreter_class = getattr(getattr(tf, 'lite', None), 'Interpreter', None)
    if interpreter_class is None:
        try:
            from ai_edge_litert.interpreter import Interpreter as interpreter_class
        except ImportError:
            raise FacenetError('running a TFLite model needs tf.lite.Interpreter or the '
                               'ai_edge_litert package') from None
    with warnings.catch_warnings():  # TF 2.21 still has it, with a deprecation warning
        warnings.simplefilter('ignore', UserWarning)
        try:
            return interpreter_class(model_path=path, num_threads=num_threads)
        except ValueError as error:
            raise FacenetError('cannot read TFLite model %s: %s' % (path, error)) from None


RUNNERS = {'saved_model': SavedModelRunner, 'onnx': OnnxRunner, 'tflite': TfliteRunner}


def open_exported(path, export_format=None):
    """A runner for the export at ``path`` (format from its extension unless given)."""
    return RUNNERS[export.output_format(path, export_format)](path)


def reference_graph_def(network, fixed_standardization=False, float_input=False):
    """The model's own frozen graph (unfolded) behind the same ``images`` input and
    standardization as an export of ``network``: what ``check_export`` compares with."""
    graph_def = network.frozen_graph_def
    with tf.Graph().as_default() as graph:
        images = servable.images_placeholder(network.image_size, float_input)
        inputs = images if float_input else servable.standardized(images, fixed_standardization)
        input_map = {model_io.INPUT_TENSOR: inputs}
        if any(node.name == model_io.PHASE_TRAIN_NAME for node in graph_def.node):
            input_map[model_io.PHASE_TRAIN_NAME + ':0'] = tf.constant(False)
        tf.identity(servable.embed(graph_def, inputs, 'model', input_map),
                    name=servable.EMBEDDINGS_NAME)
    return graph.as_graph_def()


def check_export(network, output, export_format, fixed_standardization=False,
                 float_input=False):
    """Run the written export of ``network`` (a ``servable.Network``) and the model's frozen
    graph on test images; an ExportCheck."""
    images = export.check_images(network.image_size)
    if float_input:
        with tf.Graph().as_default(), tf.Session() as sess:
            images = sess.run(servable.standardized(images, fixed_standardization))
    reference = GraphRunner(reference_graph_def(network, fixed_standardization, float_input))
    runner = open_exported(output, export_format)
    try:
        return export.compare_embeddings(reference.embed(images), runner.embed(images))
    finally:
        reference.close()
        runner.close()
