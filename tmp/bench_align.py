"""Benchmark: MTCNN face detection in images/s on a fixed LFW subset.

    python tmp/bench_align.py [--nrof_images 300] [--batch_size 32] [--skip_single]
        [--skip_package] [--skip_aligner]

Measures, on the same images (every k-th file of ../shared LFW, sorted):
  * our batched detector (``detect_face.detect_faces``, ``--batch_size`` images per call),
  * our per-image detector (``detect_face.detect_face``, the classic call pattern),
  * the ``mtcnn`` package's ``MTCNN().detect_faces`` image by image, with the classic
    thresholds, run in a subprocess (it needs TensorFlow's eager mode, ours is graph mode),
  * the whole aligner (``DatasetAligner``: read JPEG, detect, crop, write PNG, claims),
then prints images/s (wall clock; CPU seconds per image in brackets) and the ratio of the
batched detector to the package. Timings start after one warm-up batch. The machine may be
shared: compare numbers from the same run.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LFW_DIR = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'lfw', 'images_deepfunneled')
MINSIZE, THRESHOLD, FACTOR = 20, [0.6, 0.7, 0.7], 0.709


def lfw_subset(nrof_images):
    from toolkit.data.folders import get_dataset, get_image_paths_and_labels
    paths, _ = get_image_paths_and_labels(get_dataset(LFW_DIR))
    step = max(1, len(paths) // nrof_images)
    return paths[::step][:nrof_images]


def timed(function):
    """Run ``function()``; return (result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.time(), time.process_time()
    result = function()
    return result, time.time() - wall, time.process_time() - cpu


def rate(nrof_images, wall, cpu):
    """Wall-clock images/s, CPU ms per image, and the images/s that CPU cost allows on the
    machine's cores when nothing else runs (wall figures drop when the machine is shared)."""
    cpu_ms = 1000 * cpu / nrof_images
    return '%6.1f images/s  (%.1f CPU ms per image; CPU-bound limit on %d free cores: %.0f/s)' % (
        nrof_images / wall, cpu_ms, os.cpu_count(), 1000 * os.cpu_count() / cpu_ms)


def package_worker(list_file):
    """Time the mtcnn package on the listed images; print one JSON line."""
    import numpy as np
    from PIL import Image
    from mtcnn import MTCNN
    with open(list_file) as handle:
        paths = handle.read().split('\n')
    images = [np.asarray(Image.open(path).convert('RGB')) for path in paths]
    detector = MTCNN()
    options = dict(min_face_size=MINSIZE, scale_factor=FACTOR, threshold_pnet=THRESHOLD[0],
                   threshold_rnet=THRESHOLD[1], threshold_onet=THRESHOLD[2])
    for img in images[:3]:
        detector.detect_faces(img, **options)
    faces, wall, cpu = timed(lambda: sum(len(detector.detect_faces(img, **options))
                                         for img in images))
    print(json.dumps({'wall': wall, 'cpu': cpu, 'faces': faces}))


def run_package(paths):
    with tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False) as handle:
        handle.write('\n'.join(paths))
    try:
        result = subprocess.run([sys.executable, __file__, '--package_worker', handle.name],
                                capture_output=True, text=True)
    finally:
        os.remove(handle.name)
    if result.returncode != 0:
        print(result.stderr[-2000:])
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_detectors(args, paths):
    from toolkit.data.folders import read_rgb_image
    from toolkit.recognition.faces import FaceDetector
    from align import detect_face
    images = [read_rgb_image(path) for path in paths]
    results = {}
    with FaceDetector() as detector:
        nets = (detector.pnet, detector.rnet, detector.onet)

        def batched():
            found = 0
            for start in range(0, len(images), args.batch_size):
                chunk = images[start:start + args.batch_size]
                found += sum(len(b) for b, _ in detect_face.detect_faces(
                    chunk, MINSIZE, *nets, THRESHOLD, FACTOR))
            return found

        def single():
            return sum(len(detect_face.detect_face(img, MINSIZE, *nets, THRESHOLD, FACTOR)[0])
                       for img in images)

        detect_face.detect_faces(images[:args.batch_size], MINSIZE, *nets, THRESHOLD, FACTOR)
        results['batched'] = timed(batched)
        if not args.skip_single:
            results['single'] = timed(single)
    return results


def bench_aligner(args, paths, nrof_workers):
    from align import dataset_aligner
    from toolkit.recognition.faces import FaceDetector
    work = [(os.path.basename(os.path.dirname(path)), path) for path in paths]
    with tempfile.TemporaryDirectory() as output_dir, FaceDetector() as detector:
        with dataset_aligner.open_bounding_boxes_file(output_dir) as boxes_file:
            warm = dataset_aligner.DatasetAligner(detector, os.path.join(output_dir, 'warm'),
                                                  182, 44, batch_size=args.batch_size,
                                                  log=lambda line: None)
            warm.run(work[:args.batch_size], boxes_file)
            aligner = dataset_aligner.DatasetAligner(detector, output_dir, 182, 44,
                                                     batch_size=args.batch_size,
                                                     log=lambda line: None,
                                                     nrof_workers=nrof_workers)
            return timed(lambda: aligner.run(work, boxes_file)['faces'])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nrof_images', type=int, default=300)
    parser.add_argument('--batch_size', type=int, default=32)
    parser.add_argument('--nrof_workers', type=int, nargs='+', default=[1, 2],
                        help='Aligner threads to time (one run each).')
    parser.add_argument('--skip_single', action='store_true')
    parser.add_argument('--skip_package', action='store_true')
    parser.add_argument('--skip_aligner', action='store_true')
    parser.add_argument('--package_worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.package_worker:
        return package_worker(args.package_worker)

    os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')  # as align_dataset_mtcnn.py does
    sys.path.insert(0, os.path.join(ROOT, 'src'))
    import cv2
    cv2.setNumThreads(1)
    paths = lfw_subset(args.nrof_images)
    n = len(paths)
    print('%d LFW images, batch size %d' % (n, args.batch_size))
    results = bench_detectors(args, paths)
    faces, wall, cpu = results['batched']
    print('batched detect_faces:   %s, %d faces' % (rate(n, wall, cpu), faces))
    if 'single' in results:
        faces, wall, cpu = results['single']
        print('per-image detect_face:  %s, %d faces' % (rate(n, wall, cpu), faces))
    if not args.skip_aligner:
        for nrof_workers in args.nrof_workers:
            faces, wall, cpu = bench_aligner(args, paths, nrof_workers)
            print('aligner, %d thread(s) (read, detect, crop, write PNG): %s, %d crops'
                  % (nrof_workers, rate(n, wall, cpu), faces))
    if not args.skip_package:
        package = run_package(paths)
        if package:
            print('mtcnn package:          %s, %d faces'
                  % (rate(n, package['wall'], package['cpu']), package['faces']))
            print('ratio batched / package: %.1fx (wall), %.1fx (CPU)'
                  % (package['wall'] / results['batched'][1], package['cpu'] / results['batched'][2]))
    print('load average: %.1f %.1f %.1f' % os.getloadavg())


if __name__ == '__main__':
    main()
