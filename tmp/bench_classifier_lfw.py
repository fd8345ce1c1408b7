"""The standard classifier recipe on LFW: align with our MTCNN, TRAIN, CLASSIFY, print accuracy.

    python tmp/bench_classifier_lfw.py MODEL [--aligned_dir DIR] [--work_dir DIR]
        [--use_fixed_image_standardization]

Without --aligned_dir, every person with at least 40 images of ../shared LFW is aligned
(160 x 160, margin 32, as the recipe's align_dataset_mtcnn call) into WORK_DIR/lfw_160.
Then: classifier.py TRAIN/CLASSIFY --min_nrof_images_per_class 40
--nrof_train_images_per_class 35 --use_split_dataset (and CLASSIFY --nearest_neighbor).
"""
import argparse
import contextlib
import io
import os
import sys
import time

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)
ROOT = os.path.dirname(SRC_DIR)

from PIL import Image  # noqa: E402

import classifier  # noqa: E402
from align.detector import FaceDetector  # noqa: E402
from toolkit.data import folders  # noqa: E402

LFW = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'lfw', 'images_deepfunneled')
MIN_IMAGES = 40


def align_people(output_dir):
    people = [c for c in folders.get_dataset(LFW) if len(c.image_paths) >= MIN_IMAGES]
    total = sum(len(c.image_paths) for c in people)
    print('aligning %d people, %d images' % (len(people), total))
    done, start, missing = 0, time.time(), []
    with FaceDetector() as detector:
        for person in people:
            folder = os.path.join(output_dir, person.name)
            os.makedirs(folder, exist_ok=True)
            for path in person.image_paths:
                target = os.path.join(folder, os.path.basename(path)[:-4] + '.png')
                done += 1
                if os.path.exists(target):
                    continue
                found = detector.find_faces(folders.read_rgb_image(path), 32, 160,
                                            main_face_only=True)
                if not found:
                    missing.append(path)
                    continue
                Image.fromarray(found[0].image).save(target)
            print('%d/%d images, %.0f s' % (done, total, time.time() - start))
    print('no face: %s' % missing)


def run_classifier(args, mode, data_dir, pkl, *extra):
    argv = [mode, data_dir, args.model, pkl, '--use_split_dataset',
            '--min_nrof_images_per_class', '40', '--nrof_train_images_per_class', '35'] + list(extra)
    if args.use_fixed_image_standardization:
        argv.append('--use_fixed_image_standardization')
    out = io.StringIO()
    start = time.time()
    with contextlib.redirect_stdout(out):
        classifier.main(classifier.parse_arguments(argv))
    lines = out.getvalue().splitlines()
    print('\n'.join(lines[:4] + ['...'] + lines[-4:]))
    print('%s %s took %.0f s' % (mode, ' '.join(extra), time.time() - start))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('model')
    parser.add_argument('--aligned_dir')
    parser.add_argument('--work_dir', default='/tmp/facenet_bench_classifier')
    parser.add_argument('--use_fixed_image_standardization', action='store_true')
    parser.add_argument('--nearest_neighbor', action='store_true',
                        help='also CLASSIFY with --nearest_neighbor (top-1/top-5 accuracy)')
    args = parser.parse_args()
    aligned = args.aligned_dir
    if not aligned:
        aligned = os.path.join(args.work_dir, 'lfw_160')
        align_people(aligned)
    pkl = os.path.join(args.work_dir, 'lfw_classifier_%s.pkl' % os.path.basename(
        args.model.rstrip('/')))
    run_classifier(args, 'TRAIN', aligned, pkl)
    run_classifier(args, 'CLASSIFY', aligned, pkl)
    if args.nearest_neighbor:
        run_classifier(args, 'CLASSIFY', aligned, pkl, '--nearest_neighbor')


if __name__ == '__main__':
    main()
