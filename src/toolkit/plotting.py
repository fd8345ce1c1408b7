"""PNG plots and image grids written without a screen.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
figure state, no backend switching), so scripts, tests and servers can all use it. Every
file is written through ``fileio.atomic_path``: a failed plot never leaves a broken PNG.
"""
import collections
import os

import numpy as np
from PIL import Image

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path

GRID_BORDER = 3
# The false accept rates of interest in face verification span four decades.
FAR_LIMITS = (1e-4, 1.0)


def _new_figure(size=(6.4, 4.8), dpi=100):
    # Imported here so that modules importing toolkit.plotting stay cheap to load.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _series_items(series):
    """Normalise ``{label: y}`` / ``{label: (x, y)}`` (or a list of pairs) to (label, x, y)."""
    items = series.items() if isinstance(series, dict) else series
    for label, values in items:
        if isinstance(values, tuple) and len(values) == 2:
            x, y = (np.asarray(values[0], dtype=np.float64), np.asarray(values[1], dtype=np.float64))
        else:
            y = np.asarray(values, dtype=np.float64)
            x = np.arange(1, y.size + 1, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError('series %r: x has %d values, y has %d' % (label, x.size, y.size))
        yield label, x, y


def plot_format(path):
    """The plot file format named by the extension of ``path`` (png, pdf, svg, jpg, ...).

    Raises:
        FacenetError: matplotlib cannot write that extension.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    extension = os.path.splitext(path)[1].lower().lstrip('.')
    if extension not in FigureCanvasAgg.get_supported_filetypes():
        raise FacenetError('cannot write a plot as ".%s" (use e.g. .png): %s' % (extension, path))
    return extension


def line_plot_figure(series, title='', xlabel='', ylabel='', xscale='linear', yscale='linear',
                     xlim=None, ylim=None, styles=None, size=(6.4, 4.8), dpi=100):
    """A matplotlib Figure with a line plot of one or more series.

    Args:
        series: dict (or list of pairs) ``label -> y`` or ``label -> (x, y)``; ``y`` alone
            is plotted against 1..N. NaN values leave gaps.
        title, xlabel, ylabel: texts.
        xscale, yscale: 'linear' or 'log' (e.g. a ROC curve's false positive rate).
        xlim, ylim: optional ``(low, high)`` axis limits.
        styles: optional dict ``label -> matplotlib format string`` such as '--' or 'o'.
        size, dpi: figure size in inches and resolution.
    """
    figure = _new_figure(size, dpi)
    axes = figure.add_subplot(1, 1, 1)
    nrof_series = 0
    for label, x, y in _series_items(series):
        style = (styles or {}).get(label, '-')
        axes.plot(x, y, style, label=str(label), linewidth=1.5, markersize=3)
        nrof_series += 1
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    if xlim is not None:
        axes.set_xlim(*xlim)
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.grid(True, alpha=0.4)
    if nrof_series > 1 or (nrof_series == 1 and label):
        axes.legend(loc='best', fontsize='small')
    figure.tight_layout()
    return figure


def save_figure(figure, path):
    """Write ``figure`` to ``path`` (format from the extension), atomically; returns ``path``."""
    file_format = plot_format(path)
    with atomic_path(path) as tmp_path:
        figure.savefig(tmp_path, format=file_format)
    return path


def save_line_plot(path, series, **options):
    """Write ``line_plot_figure(series, **options)`` to ``path``; returns ``path``."""
    return save_figure(line_plot_figure(series, **options), path)


RocCurve = collections.namedtuple('RocCurve', ['label', 'fpr', 'tpr', 'val', 'eer'])
RocCurve.__new__.__defaults__ = (None, None)
RocCurve.__doc__ = """One model's ROC curve: false and true accept rates per threshold (arrays
of equal length), and optionally its validation rate at the target FAR and its EER, which are
marked on the curve."""


def roc_curve_figure(curves, title='ROC curve', far_target=1e-3, far_limits=FAR_LIMITS):
    """ROC curves as face verification papers draw them: the true accept rate against the
    false accept rate on a log axis, each curve's VAL@FAR operating point (a dot on the
    ``far_target`` line) and its equal error rate (a square where the curve crosses
    TAR = 1 - FAR) marked.

    Points with a FAR of 0 have no place on a log axis: a curve starts at its smallest
    positive FAR. The TAR axis starts at the tenth below the lowest visible point of the
    curves (at most 0.9); a VAL below that (a pairs file too small to measure FAR 1e-3) is
    drawn as a triangle on the axis' lower edge.

    Args:
        curves: RocCurve tuples (several models on one plot), or one RocCurve.
        title: the figure's title.
        far_target: FAR of the operating point (1e-3 as in the LFW protocol).
        far_limits: ``(low, high)`` of the FAR axis.
    """
    if isinstance(curves, RocCurve):
        curves = [curves]
    figure = _new_figure()
    axes = figure.add_subplot(1, 1, 1)
    drawn = [_plot_roc_line(axes, curve, far_target, far_limits) for curve in curves]
    lowest = min([visible_low for _, visible_low in drawn] + [1.0])
    bottom = min(np.floor(lowest * 10) / 10, 0.9)
    for curve, (color, _) in zip(curves, drawn):
        _mark_operating_points(axes, curve, color, far_target, bottom)
    equal_error = np.logspace(np.log10(far_limits[0]), np.log10(far_limits[1]), 200)
    axes.plot(equal_error, 1.0 - equal_error, '--', color='0.6', linewidth=1,
              label='TAR = 1 - FAR (EER, squares)')
    axes.axvline(far_target, linestyle=':', color='0.4', linewidth=1,
                 label='FAR = %g (VAL, dots)' % far_target)
    axes.set_xscale('log')
    axes.set_xlim(*far_limits)
    axes.set_ylim(bottom, 1.005)
    axes.set_title(title)
    axes.set_xlabel('False accept rate')
    axes.set_ylabel('True accept rate')
    axes.grid(True, which='major', alpha=0.4)
    axes.grid(True, which='minor', alpha=0.1)
    axes.legend(loc='lower right', fontsize='small')
    figure.tight_layout()
    return figure


def _plot_roc_line(axes, curve, far_target, far_limits):
    """Draw one curve's positive-FAR points; returns (its colour, its lowest visible TAR)."""
    fpr = np.asarray(curve.fpr, dtype=np.float64)
    tpr = np.asarray(curve.tpr, dtype=np.float64)
    if fpr.shape != tpr.shape:
        raise ValueError('ROC curve %r: %d FAR values, %d TAR values'
                         % (curve.label, fpr.size, tpr.size))
    order = np.lexsort((tpr, fpr))
    fpr, tpr = fpr[order], tpr[order]
    visible = fpr > 0
    line, = axes.plot(fpr[visible], tpr[visible], '-', linewidth=1.5,
                      label=_roc_label(curve, far_target))
    in_range = visible & (fpr >= far_limits[0]) & (fpr <= far_limits[1])
    return line.get_color(), float(tpr[in_range].min()) if in_range.any() else 1.0


def _mark_operating_points(axes, curve, color, far_target, bottom):
    """The VAL@FAR dot (a triangle on the lower edge when below it) and the EER square."""
    if curve.val is not None:
        if curve.val >= bottom:
            axes.plot([far_target], [curve.val], 'o', color=color, markersize=6, zorder=3)
        else:
            axes.plot([far_target], [bottom], 'v', color=color, markersize=7, zorder=3,
                      clip_on=False)
    if curve.eer is not None and curve.eer > 0:
        axes.plot([curve.eer], [1.0 - curve.eer], 's', color=color, markerfacecolor='none',
                  markersize=7, markeredgewidth=1.5, zorder=3)


def _roc_label(curve, far_target):
    parts = []
    if curve.val is not None:
        parts.append('VAL %.3f @ FAR=%g' % (curve.val, far_target))
    if curve.eer is not None:
        parts.append('EER %.3f' % curve.eer)
    label = str(curve.label or 'ROC')
    return '%s (%s)' % (label, ', '.join(parts)) if parts else label


def write_roc_curve(path, curves, title='ROC curve', far_target=1e-3):
    """Write ``roc_curve_figure(curves, title, far_target)`` to ``path``; returns ``path``."""
    return save_figure(roc_curve_figure(curves, title, far_target), path)


def put_images_on_grid(images, shape=(16, 8), border=GRID_BORDER):
    """Tile images (N x H x W x 3) into one image, ``shape = (nrof_columns, nrof_rows)``.

    Images fill the grid row by row with a black border of ``border`` pixels; cells past
    the last image stay black, images past the last cell are left out. Values are clipped
    to 0..255 and returned as uint8.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError('need images of shape (N, H, W, 3), got %s' % (images.shape,))
    nrof_columns, nrof_rows = shape
    height, width = images.shape[1:3]
    grid = np.zeros((nrof_rows * (height + border) + border,
                     nrof_columns * (width + border) + border, 3), dtype=np.uint8)
    tiles = np.clip(np.round(images.astype(np.float64)), 0, 255).astype(np.uint8)
    for index in range(min(len(tiles), nrof_columns * nrof_rows)):
        row, column = divmod(index, nrof_columns)
        top = border + row * (height + border)
        left = border + column * (width + border)
        grid[top:top + height, left:left + width, :] = tiles[index]
    return grid


def save_image(path, image, **save_options):
    """Write an RGB uint8 array as an image file (format from the extension), atomically.

    ``save_options`` go to PIL's ``Image.save`` (e.g. ``quality=95`` for JPEG).

    Raises:
        FacenetError: the extension names no image format PIL can write.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in Image.registered_extensions():
        raise FacenetError('cannot write image %s: unknown image file extension' % path)
    with atomic_path(path) as tmp_path:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp_path, **save_options)
    return path


def save_image_grid(path, images, shape=(16, 8), border=GRID_BORDER):
    """Write images tiled by ``put_images_on_grid`` to ``path``."""
    return save_image(path, put_images_on_grid(images, shape, border))
