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
- TFLite: float32, or ``quantize='dynamic'`` (int8 weights; the first
  ``FLOAT_LEADING_CONVOLUTIONS`` convolutions keep float32 ones) or ``'float16'`` weights.

Outputs are built under a temporary name and renamed when complete; an existing output is
replaced only with ``force``. Each export is checked against the frozen graph by running
the written file in its runtime (``exported.check_export``).
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
# Dynamic-range TFLite: these first int8 convolutions (in execution order) keep float32
# weights. Measured on Inception-ResNet-v1 (restoring one layer group at a time): the early
# convolutions move the embeddings most, Conv2d_2a_3x3 alone accounts for most of the loss;
# keeping 2a, 2b and 3b float raises the smallest cosine to the float32 export on 16 LFW faces
# from 0.99870 to 0.99977 (128-d) and 0.99972 to 0.99993 (512-d) for 0.1 MB more.
FLOAT_LEADING_CONVOLUTIONS = 3
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
                writing.load_variables(sess, weights)
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

def tflite_model(serving_graph_def, quantize=None, float_model=None):
    """The serving graph converted by TensorFlow's TFLite converter (bytes).

    ``quantize='dynamic'`` converts with int8 weights and gives the first
    ``FLOAT_LEADING_CONVOLUTIONS`` convolutions their float32 weights back from the float32
    conversion (``float_model``, the bytes of an earlier float32 conversion of the same
    graph, or a second run of the converter): TensorFlow 2.21's converter has no per-layer
    switch for dynamic-range quantization (its op and node denylists serve only the
    calibrated full-integer path).
    """
    content = _tflite_conversion(serving_graph_def, quantize)
    if quantize == 'dynamic':
        if float_model is None:
            float_model = _tflite_conversion(serving_graph_def)
        content = with_float_convolutions(content, float_model, FLOAT_LEADING_CONVOLUTIONS)
    return content


def _tflite_conversion(serving_graph_def, quantize=None):
    """One run of the converter, given the frozen GraphDef itself (``from_session`` would
    first run a Grappler pass whose result it throws away for a graph without variables)."""
    lite = getattr(tf, 'lite', None)
    if lite is None or not hasattr(lite, 'TFLiteConverter'):
        raise FacenetError('TFLite export needs tf.lite.TFLiteConverter, which this '
                           'TensorFlow lacks')
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(serving_graph_def, name='')
        images = graph.get_tensor_by_name(servable.IMAGES_NAME + ':0')
        embeddings = graph.get_tensor_by_name(servable.EMBEDDINGS_NAME + ':0')
        converter = lite.TFLiteConverter(serving_graph_def, [images], [embeddings])
        if quantize:
            converter.optimizations = [lite.Optimize.DEFAULT]
        if quantize == 'float16':
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as error:  # the converter raises its own ConverterError
            raise FacenetError('the TFLite converter failed: %s'
                               % str(error).strip().splitlines()[0]) from None


def with_float_convolutions(quantized, float_model, count):
    """The dynamic-range TFLite model ``quantized`` (bytes) with the int8 filters of its
    first ``count`` convolutions replaced by their float32 values from ``float_model`` (the
    same graph converted without quantization), so those run as float convolutions."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    model = flatbuffer_utils.convert_bytearray_to_object(quantized)
    reference = flatbuffer_utils.convert_bytearray_to_object(float_model)
    float_tensors = {tensor.name: tensor for tensor in reference.subgraphs[0].tensors}
    graph = model.subgraphs[0]
    buffer_users = collections.Counter(tensor.buffer for tensor in graph.tensors)
    convolutions = {schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D}
    for operator in graph.operators:
        if count == 0:
            break
        code = model.operatorCodes[operator.opcodeIndex]
        filters = graph.tensors[operator.inputs[1]] if len(operator.inputs) > 1 else None
        if (max(code.builtinCode, code.deprecatedBuiltinCode) not in convolutions
                or filters.type != schema.TensorType.INT8 or buffer_users[filters.buffer] > 1):
            continue
        original = float_tensors.get(filters.name)
        if (original is None or original.type != schema.TensorType.FLOAT32
                or list(original.shape) != list(filters.shape)):
            raise FacenetError('cannot match the quantized filter %s with the float model'
                               % filters.name.decode(errors='replace'))
        model.buffers[filters.buffer].data = reference.buffers[original.buffer].data
        filters.type = schema.TensorType.FLOAT32
        filters.quantization = None
        count -= 1
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


# -- ONNX --------------------------------------------------------------------------------------

def onnx_model(serving_graph_def, opset=ONNX_OPSET):
    """The serving graph converted by tf2onnx, with inputs and outputs named plainly."""
    try:
        import tf2onnx  # noqa: F401  (its own import error, before TensorFlow work)
    except ImportError:
        raise FacenetError('ONNX export needs the tf2onnx package (pip install -r '
                           'requirements.txt)') from None
    inputs, outputs = [servable.IMAGES_NAME + ':0'], [servable.EMBEDDINGS_NAME + ':0']
    try:
        try:
            model_proto = _tf2onnx_convert(serving_graph_def, inputs, outputs, opset, False)
        except Exception:  # an optimizer failed on the graph itself: let tf2onnx skip it
            model_proto = _tf2onnx_convert(serving_graph_def, inputs, outputs, opset, True)
    except Exception as error:  # tf2onnx raises many types on unsupported graphs
        raise FacenetError('tf2onnx failed: %s' % str(error).strip().splitlines()[0]) from None
    _rename_tensor(model_proto.graph, inputs[0], servable.IMAGES_NAME)
    _rename_tensor(model_proto.graph, outputs[0], servable.EMBEDDINGS_NAME)
    return model_proto.SerializeToString()


def _tf2onnx_convert(graph_def, inputs, outputs, opset, skip_failing_optimizers):
    """tf2onnx's conversion steps (TensorFlow-side optimization, op mapping, ONNX-side
    optimizers) on a frozen GraphDef; an ONNX ModelProto.

    ``tf2onnx.convert.from_graph_def`` does the same, but its ONNX optimizers deep-copy the
    whole graph, weights included, before each of their 24 passes so that a failing one can
    be skipped: more than half of the conversion time of an Inception-ResNet. Here they run
    in place; only when one fails is the conversion redone with the copies
    (``skip_failing_optimizers``).
    """
    from tf2onnx import optimizer, tf_loader, tfonnx
    graph_def = tf_loader.tf_optimize(inputs, outputs, graph_def)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')
        onnx_graph = tfonnx.process_tf_graph(graph, continue_on_error=False, opset=opset,
                                             input_names=inputs, output_names=outputs)
        onnx_graph = optimizer.optimize_graph(onnx_graph,
                                              catch_errors=skip_failing_optimizers)
        return onnx_graph.make_model('facenet embeddings')


def _rename_tensor(graph, old, new):
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


# -- all formats -------------------------------------------------------------------------------

def export(network, output, export_format, fixed_standardization=False, float_input=False,
           quantize=None, detector=None, float_tflite=None):
    """Write ``network`` to ``output`` in ``export_format`` (checked options, see module).

    ``float_tflite``: optional path of the float32 TFLite export of the same network and
    options, which a dynamic-range export reuses instead of converting again.
    """
    if export_format == 'saved_model':
        write_saved_model(network, output, fixed_standardization, float_input, detector)
        return
    graph_def = servable.serving_graph_def(network, fixed_standardization, float_input)
    float_model = None
    if quantize == 'dynamic' and float_tflite:
        with open(float_tflite, 'rb') as handle:
            float_model = handle.read()
    content = (onnx_model(graph_def) if export_format == 'onnx'
               else tflite_model(graph_def, quantize, float_model))
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
