"""Plot the learning curves of one or more training runs as PNG files.

Reads each run's ``stat.h5`` (train_softmax.py) or, without one, its TensorBoard event files,
and writes to ``output_dir``: ``loss.png``, ``accuracy.png``, ``learning_rate.png`` and
``lfw_accuracy.png`` (each only when some run has such curves). The classic toolkit did this
with a MATLAB script (util/plot_learning_curves.m); this is its Python replacement.

    python util/plot_learning_curves.py plots ~/logs/facenet/20180402-114759 ~/logs/facenet/20180408-102900
"""
import argparse
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import positive_int  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.plotting import save_line_plot  # noqa: E402
from toolkit.training import learning_curves  # noqa: E402


def group_series(runs, smoothing):
    """``{plot stem: {legend label: (steps, values)}}`` over all runs' curves."""
    groups = {}
    for run in runs:
        for name, curve in sorted(run.curves.items()):
            stem = learning_curves.plot_group(name)
            if stem is None:
                continue
            # Per-step curves are noisy; per-epoch and per-validation ones are few points.
            values = (learning_curves.moving_average(curve.values, smoothing)
                      if len(curve.values) > 200 else curve.values)
            label = '%s: %s' % (run.name, name) if len(runs) > 1 else name
            groups.setdefault(stem, {})[label] = (curve.steps, values)
    return groups


def write_plots(groups, output_dir):
    """One PNG per plot group; returns the written paths."""
    written = []
    for stem, title, ylabel, _ in learning_curves.PLOT_GROUPS:
        series = groups.get(stem)
        if not series:
            continue
        styles = {label: 'o--' if label.split(': ')[-1].startswith('val') else '-'
                  for label in series}
        yscale = 'log' if stem == 'learning_rate' else 'linear'
        path = os.path.join(output_dir, stem + '.png')
        save_line_plot(path, series, title=title, xlabel='Step', ylabel=ylabel, yscale=yscale,
                       styles=styles)
        written.append(path)
    return written


def main(args):
    labels = args.labels.split(',') if args.labels else None
    if labels is not None and len(labels) != len(args.runs):
        raise FacenetError('--labels has %d names for %d runs' % (len(labels), len(args.runs)))
    runs = []
    for index, path in enumerate(args.runs):
        run = learning_curves.load_run(path)
        if labels:
            run = run._replace(name=labels[index])
        print('%s: %s' % (run.name, ', '.join(sorted(run.curves)) or 'no curves'))
        runs.append(run)
    groups = group_series(runs, args.smoothing)
    if not groups:
        raise FacenetError('the training logs hold no loss, accuracy or learning rate curve')
    output_dir = os.path.expanduser(args.output_dir)
    for path in write_plots(groups, output_dir):
        print('Wrote %s' % path)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('output_dir', type=str, help='Directory to write the PNG plots to.')
    parser.add_argument('runs', type=str, nargs='+',
                        help='Training log folders (with stat.h5 or event files), or the files.')
    parser.add_argument('--labels', type=str, default='',
                        help='Comma separated legend names for the runs (default: folder names).')
    parser.add_argument('--smoothing', type=positive_int, default=100,
                        help='Moving-average window for per-step curves longer than 200 points.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
