"""LFW accuracy, VAL@FAR=1e-3, file size and speed of every export format of a model.

    python tmp/bench_export.py [--models M1 M2] [--lfw_dir ~/datasets/lfw/lfw_mtcnnpy_160]
        [--nrof_pairs 600] [--formats saved_model onnx tflite dynamic float16]

Each model (default: both pretrained models of the test cache) is exported to every format,
and the frozen graph (the peer) and each export embed the same aligned LFW faces and their
mirror images, validated with the classic recipe of the README's LFW table (10 folds, cosine
distance with the training-fold mean subtracted, flipped images; fixed standardization for the
512-d model). ``--nrof_pairs N`` takes every k-th pair of pairs.txt (N pairs) instead of all
6,000, for a shorter run. Prints the machine load, one row per format and the ratios against
the frozen graph measured in the same run.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)
ROOT = os.path.dirname(SRC_DIR)

import models  # noqa: E402
from toolkit.evaluation import lfw  # noqa: E402
from toolkit.modelfiles import export, exported, servable  # noqa: E402

CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'facenet', 'test-models')
MODELS = {'20170512-110547': False, '20180408-102900': True}  # name -> fixed standardization
FORMATS = {'saved_model': ('saved_model', 'saved_model', None),
           'onnx': ('model.onnx', 'onnx', None), 'tflite': ('model.tflite', 'tflite', None),
           'dynamic': ('dynamic.tflite', 'tflite', 'dynamic'),
           'float16': ('float16.tflite', 'tflite', 'float16')}


def read_pairs(lfw_dir, pairs_file, nrof_pairs):
    pairs = lfw.read_pairs(pairs_file)
    if nrof_pairs:
        step = max(len(pairs) // nrof_pairs, 1)
        pairs = pairs[::step][:nrof_pairs]
    found = lfw.find_pair_paths(lfw_dir, pairs)
    distinct = sorted(set(found.paths))
    images = np.stack([np.asarray(Image.open(path).convert('RGB')) for path in distinct])
    return found, distinct, images


def embed_all(runner, images, batch_size):
    """Embeddings of the images and of their mirrors, concatenated (the classic layout)."""
    parts = {False: [], True: []}
    start = time.time()
    for first in range(0, len(images), batch_size):
        batch = images[first:first + batch_size]
        parts[False].append(runner.embed(batch))
        parts[True].append(runner.embed(np.ascontiguousarray(batch[:, :, ::-1])))
    seconds = time.time() - start
    embeddings = np.concatenate([np.concatenate(parts[False]), np.concatenate(parts[True])], 1)
    return embeddings, 2 * len(images) / seconds


def validate(embeddings, distinct, found):
    index = {path: i for i, path in enumerate(distinct)}
    rows = embeddings[[index[path] for path in found.paths]]
    return lfw.evaluate_metrics(rows, found.issame, nrof_folds=10, distance_metric=1,
                                subtract_mean=True)


def bench_model(name, model, fixed, formats, found, distinct, images, batch_size, tmp_dir):
    """Export and run one format at a time (each runner is closed before the next export)."""
    print('\n%s (%s standardization)' % (name, 'fixed' if fixed else 'prewhitening'),
          flush=True)
    network = servable.load_network(model, networks=models.import_network)
    rows, written = {}, {}
    for key in ['frozen graph'] + list(formats):
        if key == 'frozen graph':
            runner = exported.GraphRunner(exported.reference_graph_def(network, fixed))
            size = _frozen_size(model)
        else:
            file_name, export_format, quantize = FORMATS[key]
            path = os.path.join(tmp_dir, '%s_%s' % (name, file_name))
            export.export(network, path, export_format, fixed, quantize=quantize,
                          float_tflite=written.get('tflite'))  # reused by dynamic
            written[key] = path
            runner = exported.open_exported(path, export_format)
            size = export.export_size(path)
        embeddings, speed = embed_all(runner, images, batch_size)
        runner.close()
        rows[key] = (validate(embeddings, distinct, found), speed, embeddings, size)
        _print_row(key, rows[key], rows['frozen graph'])


def _print_row(key, row, frozen):
    metrics, speed, embeddings, size = row
    metrics0, speed0, embeddings0, _ = frozen
    if key == 'frozen graph':
        print('%-13s %-18s %-18s %9s %9s %8s %11s' % (
            'format', 'accuracy', 'VAL@FAR=1e-3', 'size MB', 'images/s', 'speed x', 'min cosine'))
    cosine = export.compare_embeddings(embeddings0, embeddings).min_cosine
    print('%-13s %.5f+-%.5f  %.5f+-%.5f  %9.1f %9.1f %8.2f %11.6f' % (
        key, metrics.accuracy.mean(), metrics.accuracy.std(), metrics.val, metrics.val_std,
        size / 1e6, speed, speed / speed0, cosine))
    print('    accuracy - frozen graph: %+.5f, VAL - frozen graph: %+.5f (load %.1f)' % (
        metrics.accuracy.mean() - metrics0.accuracy.mean(), metrics.val - metrics0.val,
        os.getloadavg()[0]), flush=True)


def _frozen_size(model):
    kind, path = servable.model_io.resolve_model(model)
    if kind == 'graph':
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if '.ckpt' in f)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+',
                        default=[os.path.join(CACHE, name) for name in MODELS])
    parser.add_argument('--lfw_dir', required=True, help='LFW aligned by align_dataset_mtcnn.py (--image_size 160 --margin 32)')
    parser.add_argument('--lfw_pairs',
                        default=os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'lfw',
                                             'pairs.txt'))
    parser.add_argument('--nrof_pairs', type=int, default=600,
                        help='every k-th pair, N pairs (0: all 6,000)')
    parser.add_argument('--formats', nargs='+', default=list(FORMATS), choices=list(FORMATS))
    parser.add_argument('--batch_size', type=int, default=100)
    args = parser.parse_args()
    print('load average at start: %.2f %.2f %.2f' % os.getloadavg())
    found, distinct, images = read_pairs(args.lfw_dir, args.lfw_pairs, args.nrof_pairs)
    print('%d pairs (%d skipped), %d distinct images + mirrors' % (
        len(found.issame), found.nrof_skipped_pairs, len(distinct)), flush=True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        for model in args.models:
            name = os.path.basename(os.path.normpath(model))
            fixed = MODELS.get(name, False)
            bench_model(name, model, fixed, args.formats, found, distinct, images,
                        args.batch_size, tmp_dir)
    print('\nload average at end: %.2f %.2f %.2f' % os.getloadavg())


if __name__ == '__main__':
    main()
