"""Exporting a face model for deployment: SavedModel (TF Serving), ONNX and TFLite.

Every export takes ``images`` (uint8 RGB aligned faces, N x S x S x 3, any N; or the
standardized float32 input with ``float_input``) and returns ``embeddings`` (N x D,
L2-normalised float32), computed by the frozen network of ``servable.load_network``.

- SavedModel (tag ``serve``): signature ``serving_default`` (``images`` -> ``embeddings``),
  ``embed_encoded`` (``encoded``: a batch of JPEG/PNG strings of aligned faces ->
  ``embeddings``) and, when a detector is given, ``detect_and_embed`` (``image``: one encoded
  photo -> ``boxes``, ``landmarks``, ``embeddings``). The network's weights are variables
  shared by the signatures (``variables/``), so the directory holds them once.
- ONNX: converted by tf2onnx at opset ``ONNX_OPSET``, input ``images``, output
  ``embeddings``.
- TFLite: float32, or ``quantize='dynamic'`` (int8 weights) or ``'float16'`` weights.

Outputs are built under a temporary name and renamed when complete; an existing output is
replaced only with ``force``. Each export is checked against the frozen graph by running
the written file in its runtime (``exported.run_exported``).
"""
import collections
import os

import numpy as np

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path
from toolkit.modelfiles import servable, writing
from toolkit.tf_compat import tf

FORMATS = ('saved_model', 'onnx', 'tflite')
QUANTIZE_MODES = ('dynamic', 'float16')
SERVING_TAG = 'serve'
SERVING_SIGNATURE = 'serving_default'
ENCODED_SIGNATURE = 'embed_encoded'
DETECT_SIGNATURE = 'detect_and_embed'
ENCODED_NAME = 'encoded'
IMAGE_NAME = 'image'
# tf2onnx 1.17's preferred opset (ONNX 1.23 and onnxruntime 1.31 run it).
ONNX_OPSET = 15
WEIGHTS_SCOPE = 'weights'
# Constants larger than this become shared variables of the SavedModel.
MIN_VARIABLE_SIZE = 64

# JPEG, PNG, GIF and BMP files start with these bytes (what tf.io.decode_image reads).
IMAGE_SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'GIF8', b'BM')

ExportCheck = collections.namedtuple('ExportCheck', ['max_abs_difference', 'min_cosine'])


def output_format(output, requested=None):
    """The export format: ``requested``, or from the output's extension."""
    if requested:
        if requested not in FORMATS:
            raise FacenetError('unknown export format %s (choose from %s)'
                               % (requested, ', '.join(FORMATS)))
        return requested
    extension = os.path.splitext(output)[1].lower()
    return {'.onnx': 'onnx', '.tflite': 'tflite'}.get(extension, 'saved_model')


def check_options(output, export_format, quantize=None, detector=False, force=False):
    """Raise FacenetError for option combinations that cannot be exported."""
    if quantize and export_format != 'tflite':
        raise FacenetError('--quantize applies to the tflite format only (not %s)' % export_format)
    if quantize and quantize not in QUANTIZE_MODES:
        raise FacenetError('unknown quantization %s (choose from %s)'
                           % (quantize, ', '.join(QUANTIZE_MODES)))
    if detector and export_format != 'saved_model':
        raise FacenetError('--detector needs the saved_model format (not %s)' % export_format)
    if os.path.lexists(output) and not force:
        raise FacenetError('%s exists; use --force to replace it' % output)
    if export_format == 'saved_model' and os.path.isfile(output):
        raise FacenetError('%s is a file; a SavedModel is a directory' % output)
    if export_format != 'saved_model' and os.path.isdir(output):
        raise FacenetError('%s is a directory; the %s export is one file' % (output, export_format))


# -- SavedModel --------------------------------------------------------------------------------

def split_weights(graph_def, min_size=MIN_VARIABLE_SIZE):
    """``(structure, weights)``: the GraphDef without its large float constants, and those."""
    structure = tf.GraphDef()
    structure.versions.CopyFrom(graph_def.versions)
    structure.library.CopyFrom(graph_def.library)
    weights = {}
    for node in graph_def.node:
        if node.op == 'Const' and node.attr['dtype'].type == tf.float32.as_datatype_enum:
            value = tf.make_ndarray(node.attr['value'].tensor)
            if value.size >= min_size:
                weights[node.name] = value
                continue
        structure.node.extend([node])
    return structure, weights


def _decode_image(data, signature):
    """Decode one JPEG/PNG (GIF, BMP) string to uint8 RGB; a clear error for anything else.

    JPEGs are decoded with the accurate integer DCT, as Pillow (our scripts' reader) does;
    TensorFlow's default fast DCT gives pixels a little off.
    """
    starts = [tf.equal(tf.strings.substr(data, 0, len(magic)), magic)
              for magic in IMAGE_SIGNATURES]
    check = tf.Assert(tf.reduce_any(tf.stack(starts)),
                      ['%s: the input is not a JPEG or PNG image' % signature])
    with tf.control_dependencies([check]):
        image = tf.cond(starts[0],
                        lambda: tf.io.decode_jpeg(data, channels=3,
                                                  dct_method='INTEGER_ACCURATE'),
                        lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def _decode_faces(encoded, image_size):
    """N encoded aligned faces -> N x S x S x 3 uint8; each must be S x S pixels."""
    def decode(data):
        image = _decode_image(data, ENCODED_SIGNATURE)
        shape = tf.shape(image)
        right_size = tf.reduce_all(tf.equal(shape[:2], [image_size, image_size]))
        check = tf.Assert(right_size, ['%s takes %dx%d aligned faces, got an image of height, '
                                       'width' % (ENCODED_SIGNATURE, image_size, image_size),
                                       shape[0], shape[1]])
        with tf.control_dependencies([check]):
            return tf.reshape(image, [image_size, image_size, 3])
    faces = tf.map_fn(decode, encoded, dtype=tf.uint8, back_prop=False)
    faces.set_shape([None, image_size, image_size, 3])
    return faces


def build_signatures(network, fixed_standardization=False, float_input=False, detector=None):
    """Build every signature in the default graph over shared weight variables.

    Args:
        network: a ``servable.Network``.
        detector: optional ``detector(image) -> (boxes, landmarks, faces, weights)``
            building graph ops from one decoded H x W x 3 uint8 photo: F x 5 boxes, F x 10
            landmarks, F x S x S x 3 uint8 aligned faces, and ``{variable: value}`` of its
            own variables.

    Returns:
        ``(signature_def_map, weights)``: the signatures and ``{variable: value}`` to load.
    """
    structure, values = split_weights(network.graph_def)
    weights, input_map = {}, {}
    with tf.variable_scope(WEIGHTS_SCOPE):
        for index, (name, value) in enumerate(sorted(values.items())):
            variable = tf.get_variable('w%d' % index, value.shape, tf.float32,
                                       initializer=tf.zeros_initializer(), trainable=False)
            weights[variable] = value
            input_map[name + ':0'] = variable.value()

    def embeddings_of(faces, scope):
        def network(batch):
            return servable.embed(structure, servable.standardized(batch, fixed_standardization),
                                  scope, input_map)
        return servable.run_on_nonempty_batch(network, faces)

    images = servable.images_placeholder(network.image_size, float_input)
    inputs = images if float_input else servable.standardized(images, fixed_standardization)
    serving = tf.identity(servable.embed(structure, inputs, 'serving', input_map),
                          name=servable.EMBEDDINGS_NAME)
    encoded = tf.placeholder(tf.string, [None], name=ENCODED_NAME)
    with tf.name_scope(ENCODED_SIGNATURE):
        encoded_embeddings = embeddings_of(_decode_faces(encoded, network.image_size), 'embed')
    signatures = {
        SERVING_SIGNATURE: _signature({servable.IMAGES_NAME: images},
                                      {servable.EMBEDDINGS_NAME: serving}),
        ENCODED_SIGNATURE: _signature({ENCODED_NAME: encoded},
                                      {servable.EMBEDDINGS_NAME: encoded_embeddings}),
    }
    if detector is not None:
        image = tf.placeholder(tf.string, [], name=IMAGE_NAME)
        with tf.name_scope(DETECT_SIGNATURE):
            boxes, landmarks, faces, detector_weights = detector(
                _decode_image(image, DETECT_SIGNATURE))
            face_embeddings = embeddings_of(faces, 'embed')
        weights.update(detector_weights)
        signatures[DETECT_SIGNATURE] = _signature(
            {IMAGE_NAME: image}, {'boxes': boxes, 'landmarks': landmarks,
                                  servable.EMBEDDINGS_NAME: face_embeddings})
    return signatures, weights


def _signature(inputs, outputs):
    return tf.saved_model.signature_def_utils.predict_signature_def(inputs, outputs)


def write_saved_model(network, output_dir, fixed_standardization=False, float_input=False,
                      detector=None):
    """Write the SavedModel directory ``output_dir`` (replaced when it exists)."""
    def build(tmp_dir):
        export_dir = os.path.join(tmp_dir, 'saved_model')
        with tf.Graph().as_default() as graph:
            signatures, weights = build_signatures(network, fixed_standardization, float_input,
                                                   detector)
            with tf.Session(graph=graph) as sess:
                for variable, value in weights.items():
                    variable.load(value, sess)
                builder = tf.saved_model.Builder(export_dir)
                builder.add_meta_graph_and_variables(sess, [SERVING_TAG],
                                                     signature_def_map=signatures,
                                                     strip_default_attrs=True)
                builder.save()
        for name in os.listdir(export_dir):
            os.replace(os.path.join(export_dir, name), os.path.join(tmp_dir, name))
        os.rmdir(export_dir)
    writing.publish_folder(build, output_dir)


# -- TFLite ------------------------------------------------------------------------------------

def tflite_model(serving_graph_def, quantize=None):
    """The serving graph converted by TensorFlow's TFLite converter (bytes)."""
    lite = getattr(tf, 'lite', None)
    if lite is None or not hasattr(lite, 'TFLiteConverter'):
        raise FacenetError('TFLite export needs tf.lite.TFLiteConverter, which this '
                           'TensorFlow lacks')
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(serving_graph_def, name='')
        images = graph.get_tensor_by_name(servable.IMAGES_NAME + ':0')
        embeddings = graph.get_tensor_by_name(servable.EMBEDDINGS_NAME + ':0')
        with tf.Session(graph=graph) as sess:
            converter = lite.TFLiteConverter.from_session(sess, [images], [embeddings])
            if quantize:
                converter.optimizations = [lite.Optimize.DEFAULT]
            if quantize == 'float16':
                converter.target_spec.supported_types = [tf.float16]
            try:
                return converter.convert()
            except Exception as error:  # the converter raises its own ConverterError
                raise FacenetError('the TFLite converter failed: %s'
                                   % str(error).strip().splitlines()[0]) from None


# -- ONNX --------------------------------------------------------------------------------------

def onnx_model(serving_graph_def, opset=ONNX_OPSET):
    """The serving graph converted by tf2onnx, with inputs and outputs named plainly."""
    try:
        from tf2onnx import convert
    except ImportError:
        raise FacenetError('ONNX export needs the tf2onnx package (pip install -r '
                           'requirements.txt)') from None
    inputs, outputs = [servable.IMAGES_NAME + ':0'], [servable.EMBEDDINGS_NAME + ':0']
    try:
        model_proto, _ = convert.from_graph_def(serving_graph_def, input_names=inputs,
                                                output_names=outputs, opset=opset)
    except Exception as error:  # tf2onnx raises many types on unsupported graphs
        raise FacenetError('tf2onnx failed: %s' % str(error).strip().splitlines()[0]) from None
    _rename_tensor(model_proto.graph, inputs[0], servable.IMAGES_NAME)
    _rename_tensor(model_proto.graph, outputs[0], servable.EMBEDDINGS_NAME)
    return model_proto.SerializeToString()


def _rename_tensor(graph, old, new):
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


# -- all formats -------------------------------------------------------------------------------

def export(network, output, export_format, fixed_standardization=False, float_input=False,
           quantize=None, detector=None):
    """Write ``network`` to ``output`` in ``export_format`` (checked options, see module)."""
    if export_format == 'saved_model':
        write_saved_model(network, output, fixed_standardization, float_input, detector)
        return
    graph_def = servable.serving_graph_def(network, fixed_standardization, float_input)
    content = (onnx_model(graph_def) if export_format == 'onnx'
               else tflite_model(graph_def, quantize))
    with atomic_path(os.path.abspath(os.path.expanduser(output))) as tmp_path:
        with open(tmp_path, 'wb') as handle:
            handle.write(content)


def export_size(output):
    """Bytes of an export (file, or every file of a SavedModel directory)."""
    if os.path.isfile(output):
        return os.path.getsize(output)
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(output) for name in names)


def compare_embeddings(expected, actual):
    """ExportCheck of two N x D embedding arrays (largest difference, smallest cosine)."""
    expected, actual = np.asarray(expected, np.float64), np.asarray(actual, np.float64)
    if expected.shape != actual.shape:
        raise FacenetError('the export gives embeddings of shape %s, the model %s'
                           % (actual.shape, expected.shape))
    cosine = np.sum(expected * actual, 1) / np.maximum(
        np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1), 1e-12)
    return ExportCheck(float(np.max(np.abs(expected - actual))), float(np.min(cosine)))


def check_images(image_size, count=4, seed=0):
    """Smooth random uint8 test images (count x S x S x 3) for the export check."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (count, 8, 8, 3)).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        images = sess.run(tf.image.resize(coarse, [image_size, image_size], 'bicubic'))
    return np.clip(np.round(images), 0, 255).astype(np.uint8)
