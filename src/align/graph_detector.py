"""MTCNN and the classic face crop as TensorFlow graph ops only: the servable detector.

``face_detector(margin, image_size)`` returns the function ``export`` calls inside the
SavedModel graph: from one decoded H x W x 3 uint8 photo it builds the whole cascade (image
pyramid, P-Net per level, NMS, R-Net and O-Net on resampled crops, box regression) and the
classic margin crop, with no py_func, so TF Serving runs it. It uses the networks and weights
of ``align.detect_face`` and reproduces its arithmetic:

- Resampling follows OpenCV's ``INTER_AREA`` (what the Python detector calls): exact area
  averaging when neither axis grows (partial pixels of 1e-3 or less dropped), OpenCV's
  area-mode linear interpolation otherwise. It is written as per-axis weight matrices
  (``resampling_weights``) applied with matrix products; pyramid levels are rounded to uint8
  as OpenCV does for uint8 images, crops stay float.
- Box maths is float64 like numpy's; NMS is the classic greedy one (Union / Min overlap with
  the +1 pixel convention). Boxes with exactly equal scores are taken last index first (the
  order of a stable ascending sort, reversed: what the classic code meant). numpy's own sort
  leaves the order of equal scores unspecified (its SIMD sort on this machine differs from
  case to case), so on such a tie (O-Net scores saturate near 1) the two detectors can keep
  different ones of two overlapping boxes: it happens on LFW's
  Colin_Powell_0003 (2.2 pixels), on none of the 133 reference photos.
- The aligned face is the detector box grown by ``margin / 2`` per side, clipped, truncated
  to whole pixels and resized bilinearly with antialiasing (as Pillow does) to
  ``image_size``; faces whose clipped box is empty are left out.
"""
import numpy as np

from align import detect_face
from align.detector import FACTOR, MINSIZE, THRESHOLD
from toolkit.errors import FacenetError
from toolkit.modelfiles.servable import run_on_nonempty_batch
from toolkit.tf_compat import tf, tf2

PNET_STRIDE = 2
PNET_CELL_SIZE = 12
NETWORK_SCOPES = {'pnet': detect_face.pnet_graph, 'rnet': detect_face.rnet_graph,
                  'onet': detect_face.onet_graph}
AREA_EPSILON = 1e-3


# -- resampling (OpenCV INTER_AREA) -------------------------------------------------------

def resampling_weights(in_size, out_size, area, offset=None, length=None):
    """Weights [out_size, in_size] of one axis of OpenCV's INTER_AREA resize.

    Args:
        in_size: pixels along the axis of the source (the whole image when ``offset``
            is given); a scalar tensor.
        out_size: pixels of the output (int or scalar tensor).
        area: boolean tensor: area averaging (no axis grows) or area-mode linear.
        offset, length: resample only ``length`` source pixels starting at ``offset``
            (possibly outside the image, where pixels count as zero): a crop's window.
            Scalars or [K] vectors (then the weights are [K, out_size, in_size]).
    """
    if offset is None:
        offset, length = tf.zeros([], tf.int32), in_size
    offset = tf.cast(offset, tf.float64)[..., None, None]
    length = tf.cast(length, tf.float64)[..., None, None]
    out_size = tf.cast(out_size, tf.float64)
    dst = tf.range(out_size, dtype=tf.float64)[:, None]                       # out x 1
    src = tf.range(tf.cast(in_size, tf.float64), dtype=tf.float64)[None, :] - offset
    scale, inverse_scale = length / out_size, out_size / length
    inside = tf.logical_and(src >= 0, src < length)
    # Area: overlap of output cell [d * scale, (d + 1) * scale] with source pixel [s, s + 1].
    start = dst * scale
    cell = tf.minimum(scale, length - start)
    overlap = tf.maximum(tf.minimum(start + scale, src + 1) - tf.maximum(start, src), 0.0)
    area_weights = tf.where(overlap > AREA_EPSILON, overlap / cell, tf.zeros_like(overlap))
    # Area-mode linear: OpenCV's coefficients for INTER_AREA when an axis grows.
    left = tf.floor(dst * scale)
    fraction = tf.cast(tf.cast((dst + 1) - (left + 1) * inverse_scale, tf.float32), tf.float64)
    fraction = tf.where(fraction <= 0, tf.zeros_like(fraction), fraction - tf.floor(fraction))
    at_end = left >= length - 1
    left = tf.where(at_end, length - 1 + tf.zeros_like(left), left)
    fraction = tf.where(at_end, tf.zeros_like(fraction), fraction)
    linear_weights = (tf.cast(tf.equal(src, left), tf.float64) * (1 - fraction)
                      + tf.cast(tf.equal(src, left + 1), tf.float64) * fraction)
    shape = tf.shape(area_weights + linear_weights)
    area = tf.broadcast_to(tf.cast(area, tf.bool)[..., None, None], shape)
    weights = tf.where(area, tf.broadcast_to(area_weights, shape),
                       tf.broadcast_to(linear_weights, shape))
    return tf.cast(tf.where(tf.broadcast_to(inside, shape), weights, tf.zeros_like(weights)),
                   tf.float32)


def resize_image(image, height, width):
    """INTER_AREA resize of a float H x W x 3 image to height x width, rounded to uint8
    values as OpenCV does for uint8 images, transposed: width x height x 3 (the networks'
    layout)."""
    in_height, in_width = tf.shape(image)[0], tf.shape(image)[1]
    area = tf.logical_and(in_height >= height, in_width >= width)
    rows = resampling_weights(in_height, height, area)
    cols = resampling_weights(in_width, width, area)
    resized = tf.einsum('pw,owc->poc', cols, tf.tensordot(rows, image, [[1], [0]]))
    return tf.clip_by_value(tf.round(resized), 0.0, 255.0)


def crop_patches(image, boxes, size):
    """Crops of integral 1-based inclusive boxes [K, 4], zero outside the image, resized
    by INTER_AREA to size x size: [K, size(x), size(y), 3] in the networks' layout.

    Also returns the usable mask (boxes at least one pixel wide and high).
    """
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    x1, y1 = tf.cast(boxes[:, 0], tf.int32), tf.cast(boxes[:, 1], tf.int32)
    box_width = tf.cast(boxes[:, 2] - boxes[:, 0] + 1, tf.int32)
    box_height = tf.cast(boxes[:, 3] - boxes[:, 1] + 1, tf.int32)
    usable = tf.logical_and(box_width > 0, box_height > 0)
    area = tf.logical_and(box_width >= size, box_height >= size)
    rows = resampling_weights(height, size, area, y1 - 1, tf.maximum(box_height, 1))
    cols = resampling_weights(width, size, area, x1 - 1, tf.maximum(box_width, 1))
    by_rows = tf.einsum('koh,hwc->kowc', rows, image)
    return tf.einsum('kpw,kowc->kpoc', cols, by_rows), usable


# -- box maths (float64, the classic formulas) --------------------------------------------

def nms(boxes, threshold, method):
    """Indices of the boxes [n, >=5] kept by the classic greedy NMS, best score first."""
    count = tf.shape(boxes)[0]
    order = count - 1 - tf.argsort(tf.reverse(boxes[:, 4], [0]), direction='DESCENDING',
                                   stable=True)
    ranked = tf.gather(boxes, order)
    x1, y1, x2, y2 = (ranked[:, i] for i in range(4))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)

    def overlap(k):
        width = tf.maximum(tf.minimum(x2[k], x2) - tf.maximum(x1[k], x1) + 1, 0.0)
        height = tf.maximum(tf.minimum(y2[k], y2) - tf.maximum(y1[k], y1) + 1, 0.0)
        inter = width * height
        if method == 'Min':
            return inter / tf.minimum(areas[k], areas)
        return inter / (areas[k] + areas - inter)

    def step(done, kept):
        k = tf.argmax(tf.cast(tf.logical_not(done), tf.int32), output_type=tf.int32)
        first = tf.one_hot(k, count, on_value=True, off_value=False)
        return (tf.logical_or(tf.logical_or(done, overlap(k) > threshold), first),
                tf.logical_or(kept, first))

    none = tf.zeros([count], tf.bool)
    _, kept = tf.while_loop(lambda done, kept: tf.logical_not(tf.reduce_all(done)), step,
                            [none, none], back_prop=False)
    return tf.boolean_mask(order, kept)


def bbreg(boxes, offsets):
    """Corners moved by offsets [n, 4] times the box width / height (+1); score kept."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    corners = boxes[:, 0:4] + offsets * tf.stack([width, height, width, height], axis=1)
    return tf.concat([corners, boxes[:, 4:5]], axis=1)


def pnet_bbreg(boxes):
    """Stage-one regression: columns 5..8 scaled by width / height (no +1); n x 5."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    corners = boxes[:, 0:4] + boxes[:, 5:9] * tf.stack([width, height, width, height], axis=1)
    return tf.concat([corners, boxes[:, 4:5]], axis=1)


def rerec(boxes):
    """Each box grown into the square of its longer side around the same centre."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = tf.maximum(width, height)
    x1 = boxes[:, 0] + width * 0.5 - side * 0.5
    y1 = boxes[:, 1] + height * 0.5 - side * 0.5
    return tf.concat([tf.stack([x1, y1, x1 + side, y1 + side], axis=1), boxes[:, 4:]], axis=1)


def _fix(values):
    """numpy's fix: round toward zero."""
    return tf.where(values >= 0, tf.floor(values), tf.math.ceil(values))


def _fix_corners(boxes):
    return tf.concat([_fix(boxes[:, 0:4]), boxes[:, 4:]], axis=1)


def pyramid_scales(height, width, minsize, factor):
    """The classic scale list as a float64 vector (dynamic length)."""
    scale0 = 12.0 / minsize
    min_length = tf.cast(tf.minimum(height, width), tf.float64) * scale0

    def step(count, length):
        return count + 1, length * factor

    count, _ = tf.while_loop(lambda count, length: length >= 12, step,
                             [tf.constant(0), min_length], back_prop=False)
    return scale0 * tf.pow(tf.constant(factor, tf.float64), tf.range(count, dtype=tf.float64))


def _network_input(pixels):
    return (pixels - 127.5) * 0.0078125


# -- the cascade ---------------------------------------------------------------------------

def _networks():
    """The three networks as functions reusing one set of variables; ``{variable: name}``."""
    def network(scope, graph_fn):
        def run(data):
            with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
                return graph_fn(data)
        return run
    functions = {scope: network(scope, fn) for scope, fn in NETWORK_SCOPES.items()}
    # Create the variables outside the pyramid's while loop.
    functions['pnet'](tf.zeros([1, 12, 12, 3]))
    functions['rnet'](tf.zeros([1, 24, 24, 3]))
    functions['onet'](tf.zeros([1, 48, 48, 3]))
    return functions


def _stage_one(image, pnet, minsize, threshold, factor):
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    scales = pyramid_scales(height, width, minsize, factor)
    levels = tf.TensorArray(tf.float64, size=tf.shape(scales)[0], infer_shape=False,
                            element_shape=tf.TensorShape([None, 9]))

    def level_boxes(index, levels):
        scale = scales[index]
        level_height = tf.cast(tf.math.ceil(tf.cast(height, tf.float64) * scale), tf.int32)
        level_width = tf.cast(tf.math.ceil(tf.cast(width, tf.float64) * scale), tf.int32)
        level = resize_image(image, level_height, level_width)            # W x H x 3
        regression, prob = pnet(_network_input(level)[None])
        boxes = _generate_boxes(prob[0, :, :, 1], regression[0], scale, threshold)
        return index + 1, levels.write(index, tf.gather(boxes, nms(boxes, 0.5, 'Union')))

    _, levels = tf.while_loop(lambda index, levels: index < tf.shape(scales)[0], level_boxes,
                              [tf.constant(0), levels], back_prop=False)
    boxes = levels.concat()
    boxes = tf.gather(boxes, nms(boxes, 0.7, 'Union'))
    return _fix_corners(rerec(pnet_bbreg(boxes)))


def _generate_boxes(score_map, regression_map, scale, threshold):
    """P-Net cells scoring at least ``threshold``: n x 9 (box, score, offsets)."""
    cells = tf.where(score_map >= threshold)                               # n x 2 (x, y)
    cells = tf.cast(cells, tf.int32)
    count = tf.shape(cells)[0]
    # The classic code reads a lone candidate's offsets from the map flipped along x.
    flipped = tf.stack([tf.shape(regression_map)[0] - 1 - cells[:, 0], cells[:, 1]], axis=1)
    offsets = tf.gather_nd(regression_map, tf.where(tf.equal(count, 1), flipped, cells))
    corner = tf.cast(cells, tf.float64)
    top_left = _fix((PNET_STRIDE * corner + 1) / scale)
    bottom_right = _fix((PNET_STRIDE * corner + PNET_CELL_SIZE) / scale)
    score = tf.cast(tf.gather_nd(score_map, cells), tf.float64)[:, None]
    return tf.concat([top_left, bottom_right, score, tf.cast(offsets, tf.float64)], axis=1)


def _stage_two(image, boxes, rnet, threshold):
    patches, usable = crop_patches(image, boxes, detect_face.RNET_SIZE)
    regression, prob = run_on_nonempty_batch(rnet, _network_input(patches))
    score = tf.cast(prob[:, 1], tf.float64)
    keep = tf.logical_and(score > threshold, usable)
    kept = tf.concat([tf.boolean_mask(boxes[:, 0:4], keep),
                      tf.boolean_mask(score, keep)[:, None]], axis=1)
    offsets = tf.cast(tf.boolean_mask(regression, keep), tf.float64)
    pick = nms(kept, 0.7, 'Union')
    return rerec(bbreg(tf.gather(kept, pick), tf.gather(offsets, pick)))


def _stage_three(image, boxes, onet, threshold):
    boxes = _fix(boxes[:, 0:4])
    patches, usable = crop_patches(image, boxes, detect_face.ONET_SIZE)
    regression, landmarks, prob = run_on_nonempty_batch(onet, _network_input(patches))
    score = tf.cast(prob[:, 1], tf.float64)
    keep = tf.logical_and(score > threshold, usable)
    kept = tf.concat([tf.boolean_mask(boxes, keep), tf.boolean_mask(score, keep)[:, None]],
                     axis=1)
    points = tf.cast(tf.boolean_mask(landmarks, keep), tf.float64)
    width = (kept[:, 2] - kept[:, 0] + 1)[:, None]
    height = (kept[:, 3] - kept[:, 1] + 1)[:, None]
    points = tf.concat([width * points[:, 0:5] + kept[:, 0:1] - 1,
                        height * points[:, 5:10] + kept[:, 1:2] - 1], axis=1)
    kept = bbreg(kept, tf.cast(tf.boolean_mask(regression, keep), tf.float64))
    pick = nms(kept, 0.7, 'Min')
    return tf.gather(kept, pick), tf.gather(points, pick)


def detect(image, networks, minsize=MINSIZE, threshold=THRESHOLD, factor=FACTOR):
    """MTCNN on one uint8 H x W x 3 image: boxes [F, 5] and landmarks [F, 10] (float64)."""
    pixels = tf.cast(image, tf.float32)
    boxes = _stage_one(pixels, networks['pnet'], minsize, threshold[0], factor)
    boxes = _stage_two(pixels, boxes, networks['rnet'], threshold[1])
    return _stage_three(pixels, boxes, networks['onet'], threshold[2])


# -- the classic crop ----------------------------------------------------------------------

def crop_faces(image, boxes, margin, image_size):
    """Aligned faces [F, S, S, 3] uint8 of detector boxes, and the mask of boxes kept."""
    height = tf.cast(tf.shape(image)[0], tf.float64)
    width = tf.cast(tf.shape(image)[1], tf.float64)
    half = margin / 2.0
    crop = tf.cast(tf.stack([tf.maximum(boxes[:, 0] - half, 0), tf.maximum(boxes[:, 1] - half, 0),
                             tf.minimum(boxes[:, 2] + half, width),
                             tf.minimum(boxes[:, 3] + half, height)], axis=1), tf.int32)
    valid = tf.logical_and(crop[:, 2] > crop[:, 0], crop[:, 3] > crop[:, 1])
    crop = tf.boolean_mask(crop, valid)

    def face(rectangle):
        patch = tf.cast(image[rectangle[1]:rectangle[3], rectangle[0]:rectangle[2]], tf.float32)
        resized = tf2.image.resize(patch, [image_size, image_size], 'bilinear', antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    faces = tf.map_fn(face, crop, dtype=tf.uint8, back_prop=False)
    faces.set_shape([None, image_size, image_size, 3])
    return faces, valid


def variable_values(weights):
    """``{variable: array}`` for the MTCNN variables of the default graph."""
    values = {}
    for variable in tf.global_variables():
        scope, _, rest = variable.op.name.partition('/')
        if scope not in NETWORK_SCOPES or not rest.count('/'):
            continue
        layer, param = rest.rsplit('/', 1)
        try:
            value = weights[scope][layer][param]
        except KeyError:
            raise FacenetError('MTCNN weights lack %s' % variable.op.name) from None
        values[variable] = np.asarray(value, np.float32).reshape(variable.shape.as_list())
    return values


def face_detector(margin, image_size, model_path=None, minsize=MINSIZE, threshold=THRESHOLD,
                  factor=FACTOR):
    """The ``detector`` function for ``export.build_signatures``.

    Returns ``build(image) -> (boxes [F, 5], landmarks [F, 10], faces [F, S, S, 3] uint8,
    {variable: value})`` with float32 boxes (x1, y1, x2, y2, score) and landmarks (x1..x5,
    y1..y5), as the classic detector's ``boxes`` and transposed ``points``.
    """
    weights = detect_face.load_weights(model_path)

    def build(image):
        image.set_shape([None, None, 3])
        with tf.name_scope('mtcnn'):
            networks = _networks()
            boxes, landmarks = detect(image, networks, minsize, threshold, factor)
        faces, valid = crop_faces(image, boxes, margin, image_size)
        return (tf.cast(tf.boolean_mask(boxes, valid), tf.float32),
                tf.cast(tf.boolean_mask(landmarks, valid), tf.float32), faces,
                variable_values(weights))
    return build
