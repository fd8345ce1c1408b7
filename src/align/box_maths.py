"""MTCNN box arithmetic: pure numpy, the classic formulas.

The pieces of the detector between network runs: the image pyramid (``pyramid_scales``),
P-Net's score map turned into candidate boxes (``generate_bounding_boxes``, the classic
``generateBoundingBox``), greedy non-maximum suppression (``nms``), box regression
(``bbreg``, ``pnet_bbreg``), squaring (``rerec``) and the clipped crop windows of boxes
partly outside the image (``pad``). ``align.detect_face`` re-exports every name.
"""
import numpy as np

PNET_STRIDE = 2
PNET_CELL_SIZE = 12
NMS_MATRIX_SIZE = 256


def pyramid_scales(height, width, minsize, factor):
    """Scales at which the 12-pixel P-Net window covers faces from ``minsize`` pixels up."""
    scale0 = 12.0 / minsize
    min_length = min(height, width) * scale0
    scales = []
    count = 0
    while min_length >= 12:
        scales.append(scale0 * np.power(factor, count))
        min_length = min_length * factor
        count += 1
    return scales


def scaled_size(height, width, scale):
    """(height, width) of an image resized by ``scale`` for P-Net."""
    return int(np.ceil(height * scale)), int(np.ceil(width * scale))


def generate_bounding_boxes(score_map, regression_map, scale, threshold):
    """P-Net cells scoring at least ``threshold`` as image boxes.

    Args:
        score_map: W' x H' face probabilities in the networks' transposed layout.
        regression_map: W' x H' x 4 box offsets, same layout.
        scale: the pyramid scale the maps were computed at.

    Returns:
        n x 9 array: x1, y1, x2, y2, score, then the four offsets (relative to box size).
    """
    xs, ys = np.where(score_map >= threshold)
    if xs.size == 1:
        # The classic code reads a lone candidate's offsets from the map flipped along its
        # first axis; kept so that the detections equal the classic ones.
        regression_map = regression_map[::-1]
    corner = np.stack([xs, ys], axis=1).astype(np.float64)
    top_left = np.fix((PNET_STRIDE * corner + 1) / scale)
    bottom_right = np.fix((PNET_STRIDE * corner + PNET_CELL_SIZE) / scale)
    score = score_map[xs, ys].reshape(-1, 1)
    offsets = regression_map[xs, ys].reshape(-1, 4)
    return np.hstack([top_left, bottom_right, score, offsets])


def _overlaps(corners, area, i, j, method):
    """Overlap of boxes ``i`` with boxes ``j`` (index arrays, broadcast against each other)."""
    x1, y1, x2, y2 = corners
    width = np.maximum(0.0, np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]) + 1)
    height = np.maximum(0.0, np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]) + 1)
    inter = width * height
    if method == 'Min':
        return inter / np.minimum(area[i], area[j])
    return inter / (area[i] + area[j] - inter)


def nms(boxes, threshold, method='Union'):
    """Greedy non-maximum suppression; boxes n x >=5 (x1, y1, x2, y2, score).

    The best remaining box is kept and every box overlapping it by more than ``threshold``
    dropped, until none is left: the classic algorithm, with its tie order. Up to
    NMS_MATRIX_SIZE boxes all overlaps are computed at once, which is faster than one
    numpy pass per kept box and gives the same picks.

    Args:
        method: 'Union' (overlap = intersection over union) or 'Min' (over the smaller box).

    Returns:
        Indices of the kept boxes, best score first.
    """
    if boxes.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    corners = [boxes[:, i] for i in range(4)]
    area = (corners[2] - corners[0] + 1) * (corners[3] - corners[1] + 1)
    order = np.argsort(boxes[:, 4])[::-1]
    pick = []
    if order.size <= NMS_MATRIX_SIZE:
        suppresses = _overlaps(corners, area, order[:, None], order[None, :], method) > threshold
        removed = np.zeros(order.size, dtype=bool)
        for k in range(order.size):
            if not removed[k]:
                pick.append(order[k])
                removed |= suppresses[k]
    else:
        while order.size > 0:
            pick.append(order[0])
            rest = order[1:]
            order = rest[_overlaps(corners, area, order[0], rest, method) <= threshold]
    return np.asarray(pick, dtype=np.intp)


def bbreg(boxes, offsets):
    """Move box corners by ``offsets`` (n x 4) times the box width / height (n x 5 copy)."""
    boxes = np.array(boxes, dtype=np.float64)
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0:4] = boxes[:, 0:4] + offsets * np.stack([width, height, width, height], axis=1)
    return boxes


def pnet_bbreg(boxes):
    """Stage-one regression: columns 5..8 of ``boxes`` scaled by width / height without +1."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    corners = boxes[:, 0:4] + boxes[:, 5:9] * np.stack([width, height, width, height], axis=1)
    return np.hstack([corners, boxes[:, 4:5]])


def rerec(boxes):
    """Grow each box into the square of its longer side around the same centre (copy)."""
    boxes = np.array(boxes, dtype=np.float64)
    height = boxes[:, 3] - boxes[:, 1]
    width = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(width, height)
    boxes[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, 0:2] + side[:, None]
    return boxes


def pad(boxes, width, height):
    """The classic crop windows of integral boxes in an image of ``width`` x ``height``.

    Boxes are in 1-based inclusive pixel coordinates. Returns ``dy, edy, dx, edx, y, ey, x,
    ex, tmpw, tmph`` (int32 arrays): the box region ``[y..ey] x [x..ex]`` clipped to the image
    lands at ``[dy..edy] x [dx..edx]`` of a ``tmph`` x ``tmpw`` zero-padded patch.
    """
    tmpw = (boxes[:, 2] - boxes[:, 0] + 1).astype(np.int32)
    tmph = (boxes[:, 3] - boxes[:, 1] + 1).astype(np.int32)
    x = boxes[:, 0].astype(np.int32)
    y = boxes[:, 1].astype(np.int32)
    ex = boxes[:, 2].astype(np.int32)
    ey = boxes[:, 3].astype(np.int32)
    dx = np.ones_like(tmpw)
    dy = np.ones_like(tmph)
    edx = tmpw.copy()
    edy = tmph.copy()
    beyond = ex > width
    edx[beyond] = -ex[beyond] + width + tmpw[beyond]
    ex[beyond] = width
    beyond = ey > height
    edy[beyond] = -ey[beyond] + height + tmph[beyond]
    ey[beyond] = height
    before = x < 1
    dx[before] = 2 - x[before]
    x[before] = 1
    before = y < 1
    dy[before] = 2 - y[before]
    y[before] = 1
    return dy, edy, dx, edx, y, ey, x, ex, tmpw, tmph
