"""Records of the MS-Celeb-1M TSV files (``FaceImageCroppedWithAlignment.tsv`` layout).

Each line is one face, seven tab-separated columns: Freebase MID (the identity),
ImageSearchRank, ImageURL, PageURL, FaceID, FaceRectangle (base64) and FaceData (the
base64-encoded JPEG of the face). The classic decoder writes each face to
``<MID>/<ImageSearchRank>-<FaceID>.<ext>``.
"""
import base64
import binascii
import collections
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from toolkit.errors import FacenetError

MSCELEB_COLUMNS = ('FreebaseMID', 'ImageSearchRank', 'ImageURL', 'PageURL', 'FaceID',
                   'FaceRectangle', 'FaceData')

FaceRecord = collections.namedtuple('FaceRecord', ['class_name', 'image_name', 'image_data'])


def _safe_name(text, column):
    """A path component from a TSV field: non-empty, no separators, not '.' or '..'."""
    if not text or text in ('.', '..') or '/' in text or '\\' in text or '\0' in text:
        raise FacenetError('column %s is not usable as a file name: %r' % (column, text[:40]))
    return text


def parse_record(line):
    """Split one TSV line into a FaceRecord (image data still base64-decoded bytes).

    Raises:
        FacenetError: too few columns, an unusable MID/rank/FaceID, or invalid base64.
    """
    fields = line.rstrip('\r\n').split('\t')
    if len(fields) < len(MSCELEB_COLUMNS):
        raise FacenetError('expected %d tab-separated columns, found %d'
                           % (len(MSCELEB_COLUMNS), len(fields)))
    class_name = _safe_name(fields[0].strip(), 'FreebaseMID')
    image_name = '%s-%s' % (_safe_name(fields[1].strip(), 'ImageSearchRank'),
                            _safe_name(fields[4].strip(), 'FaceID'))
    try:
        image_data = base64.b64decode(fields[6].strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise FacenetError('FaceData is not valid base64: %s' % error) from None
    return FaceRecord(class_name, image_name, image_data)


def decode_face_image(image_data, size=None):
    """Decode image bytes to an RGB uint8 array, resized to ``size`` x ``size`` if given.

    Resizing is bilinear, as the classic ``--size`` option was (it squashes non-square
    faces; the MS-Celeb crops are square).

    Raises:
        FacenetError: the bytes are not a readable image.
    """
    try:
        with Image.open(io.BytesIO(image_data)) as image:
            image = image.convert('RGB')
            if size:
                image = image.resize((size, size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise FacenetError('FaceData is not a readable image: %s' % error) from None
