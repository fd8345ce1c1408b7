"""MTCNN debug visualiser: detect faces in one image and write a copy with each box, its
score and the five landmarks (eyes, nose, mouth corners) drawn on it.

    python tmp/mtcnn_debug.py ~/photos/group.jpg group_faces.png --minsize 40
"""
import argparse
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from align.detector import FACTOR, MINSIZE, THRESHOLD, FaceDetector  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import fraction, gpu_args  # noqa: E402
from toolkit.data.folders import read_rgb_image  # noqa: E402
from toolkit.plotting import save_image  # noqa: E402

BOX_COLOR = (255, 0, 0)
LANDMARK_COLOR = (0, 255, 0)


def draw_detections(image, boxes, points, line_width=2, landmark_radius=2):
    """A copy of an RGB uint8 image with MTCNN boxes (N x 5) and landmarks (10 x N) drawn."""
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    for i, (x1, y1, x2, y2, score) in enumerate(np.asarray(boxes).reshape(-1, 5)):
        draw.rectangle([x1, y1, x2, y2], outline=BOX_COLOR, width=line_width)
        draw.text((x1 + line_width + 1, y1 + line_width + 1), '%.3f' % score, fill=BOX_COLOR)
        for x, y in zip(points[:5, i], points[5:, i]):
            draw.ellipse([x - landmark_radius, y - landmark_radius, x + landmark_radius,
                          y + landmark_radius], fill=LANDMARK_COLOR)
    return np.asarray(canvas)


def main(args):
    image = read_rgb_image(os.path.expanduser(args.image_path))
    with FaceDetector(args.gpu_memory_fraction, args.model_path, args.minsize,
                      args.threshold, args.factor) as detector:
        boxes, points = detector.detect(image)
    print('%d face(s) in %s (%dx%d)' % (len(boxes), args.image_path, image.shape[1],
                                        image.shape[0]))
    for i, (x1, y1, x2, y2, score) in enumerate(boxes):
        landmarks = ', '.join('(%.0f, %.0f)' % (x, y) for x, y in zip(points[:5, i], points[5:, i]))
        print('  face %d: box (%.0f, %.0f, %.0f, %.0f) score %.4f landmarks %s'
              % (i, x1, y1, x2, y2, score, landmarks))
    save_image(os.path.expanduser(args.output_path), draw_detections(image, boxes, points))
    print('Wrote %s' % args.output_path)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], parents=[gpu_args()])
    parser.add_argument('image_path', type=str, help='Image to detect faces in.')
    parser.add_argument('output_path', type=str, help='Image file to write the drawing to.')
    parser.add_argument('--minsize', type=int, default=MINSIZE,
                        help='Minimum face size in pixels.')
    parser.add_argument('--threshold', type=fraction, nargs=3, default=list(THRESHOLD),
                        help='Score thresholds of the three stages (P-Net, R-Net, O-Net).')
    parser.add_argument('--factor', type=fraction, default=FACTOR,
                        help='Scale factor between the image pyramid levels.')
    parser.add_argument('--model_path', type=str, default=None,
                        help='Folder with det1.npy..det3.npy (default: the mtcnn package weights).')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
