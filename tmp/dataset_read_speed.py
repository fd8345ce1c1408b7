"""Dataset read-speed check: read every image file of a dataset (one folder per class) and
report the time per file and the throughput, to tell a slow disk from a slow input pipeline.

    python tmp/dataset_read_speed.py ~/datasets/casia/casia_maxpy_mtcnnpy_182
"""
import argparse
import os
import sys
import time

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402

from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import positive_int  # noqa: E402
from toolkit.data.folders import get_dataset, get_image_paths_and_labels  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402


def read_times(paths, progress_every, report=print):
    """Seconds and bytes to read each file, printing progress every ``progress_every`` files."""
    durations = np.zeros(len(paths))
    sizes = np.zeros(len(paths), dtype=np.int64)
    start = time.time()
    for i, path in enumerate(paths):
        file_start = time.time()
        with open(path, 'rb') as handle:
            sizes[i] = len(handle.read())
        durations[i] = time.time() - file_start
        if (i + 1) % progress_every == 0 or i + 1 == len(paths):
            report('File %d/%d  Total time: %.2f s  Avg: %.3f ms  Std: %.3f ms'
                   % (i + 1, len(paths), time.time() - start, np.mean(durations[:i + 1]) * 1000,
                      np.std(durations[:i + 1]) * 1000))
    return durations, sizes


def main(args):
    paths, _ = get_image_paths_and_labels(get_dataset(args.dir))
    if not paths:
        raise FacenetError('no images found in %s' % args.dir)
    durations, sizes = read_times(paths, args.progress_every)
    total = max(float(np.sum(durations)), 1e-9)
    print('Read %d files, %.1f MB in %.2f s: %.1f files/s, %.1f MB/s'
          % (len(paths), sizes.sum() / 1e6, total, len(paths) / total, sizes.sum() / 1e6 / total))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dir', type=str, help='Directory with dataset to test')
    parser.add_argument('--progress_every', type=positive_int, default=1000,
                        help='Print the running statistics every this many files.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
