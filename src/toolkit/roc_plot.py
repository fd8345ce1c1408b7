"""A ROC curve drawn with Pillow: axes, ticks, labels, the chance diagonal and the curve.

Pillow alone (no plotting library) keeps ``validate_on_lfw.py --roc_plot`` light; the file is
written through ``fileio.atomic_path`` so a failed run never leaves a broken image.
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path

WIDTH, HEIGHT = 640, 520
# Plot area inside the image: left, top, right, bottom margins in pixels.
MARGINS = (70, 40, 20, 60)
TICKS = np.linspace(0.0, 1.0, 6)
CURVE_COLOR = (31, 119, 180)
GRID_COLOR = (225, 225, 225)
CHANCE_COLOR = (160, 160, 160)


def image_format(path):
    """Pillow's format name for the extension of ``path``; FacenetError when it has none."""
    ext = os.path.splitext(path)[1].lower()
    image_format = Image.registered_extensions().get(ext)
    if image_format is None or image_format not in Image.SAVE:
        raise FacenetError('cannot write a plot as "%s" (use e.g. .png): %s' % (ext, path))
    return image_format


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _to_pixels(x, y):
    """Map rates in [0, 1] to pixel coordinates of the plot area."""
    left, top, right, bottom = MARGINS
    width = WIDTH - left - right
    height = HEIGHT - top - bottom
    return left + np.asarray(x) * width, HEIGHT - bottom - np.asarray(y) * height


def _draw_axes(draw, font):
    for tick in TICKS:
        (x0, x1), (y0, y1) = _to_pixels([tick, tick], [0.0, 1.0])
        draw.line([(x0, y0), (x1, y1)], fill=GRID_COLOR)  # vertical grid line
        (gx0, gx1), (gy0, gy1) = _to_pixels([0.0, 1.0], [tick, tick])
        draw.line([(gx0, gy0), (gx1, gy1)], fill=GRID_COLOR)  # horizontal grid line
        label = '%.1f' % tick
        draw.text((x0, y0 + 6), label, fill='black', font=font, anchor='mt')
        draw.text((gx0 - 6, gy0), label, fill='black', font=font, anchor='rm')
    (x0, x1), (y0, y1) = _to_pixels([0.0, 1.0], [0.0, 1.0])
    draw.rectangle([(x0, y1), (x1, y0)], outline='black')


def _vertical_text(image, text, center, font):
    """Draw ``text`` rotated by 90 degrees (reading upwards) centred at ``center``."""
    box = ImageDraw.Draw(image).textbbox((0, 0), text, font=font)
    label = Image.new('L', (box[2] + 4, box[3] + 4), 0)
    ImageDraw.Draw(label).text((2, 2), text, fill=255, font=font)
    label = label.rotate(90, expand=True)
    corner = (int(center[0] - label.width / 2), int(center[1] - label.height / 2))
    image.paste((0, 0, 0), corner + (corner[0] + label.width, corner[1] + label.height), label)


def draw_roc_curve(fpr, tpr, title='ROC curve'):
    """An RGB image of the ROC curve (false positive rate against true positive rate)."""
    image = Image.new('RGB', (WIDTH, HEIGHT), 'white')
    draw = ImageDraw.Draw(image)
    small, large = _font(13), _font(16)
    _draw_axes(draw, small)
    xs, ys = _to_pixels([0.0, 1.0], [0.0, 1.0])
    for start in np.arange(0.0, 1.0, 0.04):  # dashed chance diagonal
        (a, b), (c, d) = _to_pixels([start, start + 0.02], [start, start + 0.02])
        draw.line([(a, c), (b, d)], fill=CHANCE_COLOR, width=1)
    order = np.lexsort((np.asarray(tpr), np.asarray(fpr)))
    px, py = _to_pixels(np.asarray(fpr)[order], np.asarray(tpr)[order])
    draw.line(list(zip(px.tolist(), py.tolist())), fill=CURVE_COLOR, width=2, joint='curve')
    left, top, right, bottom = MARGINS
    draw.text((left + (WIDTH - left - right) / 2, top / 2), title, fill='black', font=large,
              anchor='mm')
    draw.text((left + (WIDTH - left - right) / 2, HEIGHT - bottom / 3), 'False positive rate',
              fill='black', font=large, anchor='mm')
    _vertical_text(image, 'True positive rate', (left / 3, top + (HEIGHT - top - bottom) / 2),
                   large)
    return image


def write_roc_curve(path, fpr, tpr, title='ROC curve'):
    """Draw the ROC curve and write it to ``path`` (format from the extension), atomically."""
    fmt = image_format(path)
    image = draw_roc_curve(fpr, tpr, title)
    with atomic_path(path) as tmp_path:
        image.save(tmp_path, format=fmt)
    return path
