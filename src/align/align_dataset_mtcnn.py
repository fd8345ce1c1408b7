"""Detect, crop and save the face of every image of a dataset with MTCNN.

    python src/align/align_dataset_mtcnn.py INPUT_DIR OUTPUT_DIR [--image_size 182]
        [--margin 44] [--random_order] [--gpu_memory_fraction 1.0]
        [--detect_multiple_faces True] [--batch_size 32]

Writes ``OUTPUT_DIR/<class>/<name>.png`` (``<name>_<i>.png`` per face with
``--detect_multiple_faces``), a ``bounding_boxes_<5 random digits>.txt`` per process and
``revision_info.txt``, then prints the totals. Several processes may align one folder at once
(``for N in {1..4}; do python src/align/align_dataset_mtcnn.py ... --random_order & done``):
every image is aligned exactly once, and a killed run resumes where it stopped. Aligners
running on one machine count each other (``align.local_aligners``): each takes its share of
the cores, and of one folder's aligners those beyond one per two cores wait (without loading
TensorFlow) until one of the first finishes, and leave when no image is left for them.
"""
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
from collections import Counter  # noqa: E402

import cv2  # noqa: E402

from align import dataset_aligner  # noqa: E402
from align import detector as detector_module  # noqa: E402
from align import image_reader_process  # noqa: E402
from align import local_aligners  # noqa: E402
from align.detector import FaceDetector  # noqa: E402
from toolkit import cli, fileio, progress, session, tf_compat  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402


def main(args):
    # The detector's graph needs only TensorFlow's graph core: 1.3 CPU seconds less start-up.
    tf_compat.use_graph_core()
    # Several aligners often share one terminal or log: each line goes out whole, in one write.
    say = progress.line_writer(sys.stdout)
    output_dir = os.path.expanduser(args.output_dir)
    problems = []
    dataset = folders.get_dataset(args.input_dir, problems=problems)
    for path, reason in problems:
        say('%r: skipped: %s' % (path, reason))
    dataset, unlisted = dataset_aligner.classes_with_listable_names(dataset)
    for image_class in unlisted:
        say('%r: class folder skipped: a line break in its name would split its '
            'bounding-box lines (%d images)' % (image_class.name, len(image_class)))
    work = dataset_aligner.list_images(dataset, args.random_order)
    if not work:
        raise FacenetError('no images found in %s (expected one sub-folder of images per '
                           'class)%s' % (args.input_dir, ', %d entries skipped' % (
                               len(problems) + len(unlisted)) if problems or unlisted else ''))
    fileio.check_writable(output_dir, 'output_dir', directory=True)
    renamed = dataset_aligner.renamed_outputs(work)
    for path, name in renamed:
        say('%r: written as %s.png (its name is shared by another image of its class or '
            'holds a line break)' % (path, name))
    # The crops are small: OpenCV's own threads would only compete with TensorFlow's.
    cv2.setNumThreads(1)
    cores = session.usable_cores()
    with local_aligners.LocalAligners(output_dir) as aligners:
        # Beyond one process per two cores, an aligner of this folder waits instead of
        # loading TensorFlow for nothing (the others take its images).
        if aligners.wait_for_a_core(cores, lambda: dataset_aligner.work_left(
                work, output_dir, args.detect_multiple_faces), say):
            # Decoding the first images and resizing their pyramids starts now, in a child
            # process (threads would wait for the interpreter lock that TensorFlow's import
            # holds), on the core that TensorFlow's start-up (one thread) leaves idle.
            with _collector_paused(), _start_reader(work, output_dir, args, cores) as reader:
                op_threads, nrof_workers, nrof_aligners = _threads(cores, aligners, say)
                if nrof_aligners > 1:
                    # Other aligners take images meanwhile: what this one read far ahead
                    # (beyond the batches it claimed) would often be theirs by the time it
                    # got there.
                    reader.read_ahead(args.batch_size)
                counts = _align(args, work, reader, op_threads, nrof_workers, say)
        else:
            say('Every image is aligned or being aligned by another process')
            counts = Counter(images=len(work), skipped=len(work))
    say('Total number of images: %d' % counts['images'])
    say('Number of successfully aligned images: %d' % counts['faces'])
    if counts['skipped']:
        say('Images aligned earlier or by another process: %d' % counts['skipped'])
    if renamed:
        say('Images written under a new name: %d' % len(renamed))
    if problems or unlisted:
        say('Entries skipped (not image files, or unlistable names): %d'
            % (len(problems) + sum(len(c) for c in unlisted)))
    return 0


def _start_reader(work, output_dir, args, cores):
    """The image reader of ``work``, its child process started."""
    return dataset_aligner.ImageReader(
        work, detector_module.pyramid_levels,
        dataset_aligner.still_to_do(output_dir, args.detect_multiple_faces),
        nrof_threads=cores, process=image_reader_process.start(
            detector_module.MINSIZE, detector_module.FACTOR))


@contextlib.contextmanager
def _collector_paused():
    """No garbage collection inside, until ``_align`` has built and frozen the detector (the
    collector's passes over TensorFlow's new objects took 0.05 of the import's 1.0 CPU s and
    0.05 of the 0.3 s that building the detector takes); on again when the block ends, also
    when it raises."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _threads(cores, aligners, say):
    """``(op threads, worker threads, active aligners)``: all the cores for a process alone
    (two workers at least, so that one's box work overlaps the other's network runs), its
    share of them when other aligners run on the machine. Counted once TensorFlow is
    imported: aligners started together have registered by then."""
    say('Creating networks and loading parameters')
    tf_compat.import_now()
    nrof_aligners = aligners.count_active()
    share = local_aligners.cores_share(cores, nrof_aligners)
    if nrof_aligners > 1:
        say('%d active aligner processes on this machine: this one uses %d of its %d cores'
            % (nrof_aligners, share, cores))
        return share, share, nrof_aligners
    return cores, max(2, cores), 1


def _align(args, work, reader, op_threads, nrof_workers, say):
    """Build the detector and align ``work``; returns the aligner's counts."""
    output_dir = os.path.expanduser(args.output_dir)
    # Each op on one thread, one batch per core at a time: the cores are kept busy by
    # batches side by side rather than by splitting small ops, so that several aligner
    # processes on one machine share the cores instead of spinning against each other.
    with FaceDetector(args.gpu_memory_fraction, op_threads=op_threads) as detector:
        # What exists now (TensorFlow's modules, the graph) lives until the end: kept out of
        # the garbage collector's full passes, which otherwise take about 5% of the run; the
        # collector, paused since before TensorFlow's import (_collector_paused), runs again.
        gc.freeze()
        gc.enable()
        fileio.make_dirs(output_dir, 'output_dir')
        fileio.store_revision_info(SRC_DIR, output_dir, ' '.join(sys.argv))
        with dataset_aligner.open_bounding_boxes_file(output_dir) as bounding_boxes_file:
            aligner = dataset_aligner.DatasetAligner(
                detector, output_dir, args.image_size, args.margin, args.detect_multiple_faces,
                args.batch_size, log=say, nrof_workers=nrof_workers)
            return aligner.run(work, bounding_boxes_file, reader)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description='Align the faces of a dataset (one folder per class) with MTCNN.',
        parents=[arguments.image_size_args(182), arguments.margin_args(44),
                 arguments.gpu_args()])
    parser.add_argument('input_dir', type=str, help='Directory with unaligned images.')
    parser.add_argument('output_dir', type=str, help='Directory with aligned face thumbnails.')
    parser.add_argument('--random_order', action='store_true',
                        help='Shuffles the order of images to enable alignment using '
                             'multiple processes.')
    parser.add_argument('--detect_multiple_faces', type=arguments.boolean, nargs='?',
                        const=True, default=False,
                        help='Detect and align multiple faces per image.')
    parser.add_argument('--batch_size', type=arguments.positive_int, default=32,
                        help='Images per detector run (1 detects image by image).')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
