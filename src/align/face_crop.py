"""Cutting face patches out of images around MTCNN boxes: the classic crop geometry.

One place for what the classic scripts (align_dataset_mtcnn, compare, predict, cluster, the
contributed face module) each spelled out inline: grow the detector's box by ``margin / 2``
pixels on every side, clip it to the image, truncate to whole pixels, and resize the patch
bilinearly to ``image_size`` x ``image_size``. When an image holds several faces and only one
is wanted, the classic aligner takes the largest box, penalised by its distance from the
image centre (``main_face_index``).
"""
import numpy as np
from PIL import Image


def margin_box(box, margin, image_height, image_width):
    """The crop rectangle of a detection: the box grown by ``margin / 2`` and clipped.

    Args:
        box: x1, y1, x2, y2 (more entries, e.g. the score, are ignored).
        margin: total margin in pixels (half on each side).
        image_height, image_width: size of the image the box lies in.

    Returns:
        int32 array (x1, y1, x2, y2); float coordinates are truncated as the classic code did.
    """
    x1, y1, x2, y2 = [float(value) for value in box[:4]]
    crop = np.zeros(4, dtype=np.int32)
    crop[0] = np.maximum(x1 - margin / 2, 0)
    crop[1] = np.maximum(y1 - margin / 2, 0)
    crop[2] = np.minimum(x2 + margin / 2, image_width)
    crop[3] = np.minimum(y2 + margin / 2, image_height)
    return crop


def resize_patch(patch, image_size):
    """Bilinear resize of an RGB uint8 patch to ``image_size`` x ``image_size``."""
    image = Image.fromarray(np.ascontiguousarray(patch, dtype=np.uint8))
    return np.asarray(image.resize((image_size, image_size), Image.BILINEAR), dtype=np.uint8)


def crop_face(img, box, margin, image_size):
    """Aligned face patch for one detection.

    Args:
        img: H x W x 3 uint8 image.
        box: detection box x1, y1, x2, y2[, score].
        margin: total margin around the box in pixels.
        image_size: side of the square output patch.

    Returns:
        ``(patch, crop_box)``: image_size x image_size x 3 uint8, and the int32 rectangle
        cut out of ``img``. None for the patch when the clipped rectangle is empty (a box
        entirely outside the image).
    """
    crop_box = margin_box(box, margin, img.shape[0], img.shape[1])
    if crop_box[2] <= crop_box[0] or crop_box[3] <= crop_box[1]:
        return None, crop_box
    patch = img[crop_box[1]:crop_box[3], crop_box[0]:crop_box[2], :]
    return resize_patch(patch, image_size), crop_box


def main_face_index(boxes, image_height, image_width):
    """Index of the face the classic aligner keeps when only one is wanted.

    The score is the box area minus twice the squared distance of the box centre from the
    image centre, so a large central face wins over a larger face at the edge.

    Args:
        boxes: n x 4 (or n x 5) detections, n >= 1.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    offset_x = (boxes[:, 0] + boxes[:, 2]) / 2 - image_width / 2
    offset_y = (boxes[:, 1] + boxes[:, 3]) / 2 - image_height / 2
    return int(np.argmax(areas - 2.0 * (offset_x ** 2 + offset_y ** 2)))
