"""classifier_cos.py's two rankings (class mean, nearest image) on aligned LFW people.

    python tmp/bench_classifier_cos_lfw.py MODEL --aligned_dir ~/datasets/lfw/lfw_mtcnnpy_160 \
        [--min_nrof_images 10 --nrof_train_images 3 --max_nrof_images 10]

People with at least --min_nrof_images images; per person (sorted file names) the first
--nrof_train_images images form the training set and the next ones, up to --max_nrof_images in
all, the test set. The images are embedded once; top-1/top-5 accuracy of both rankings printed.
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

import classifier_cos  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit.recognition import identification  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('model')
    parser.add_argument('--aligned_dir', required=True, help='LFW aligned by align_dataset_mtcnn.py')
    parser.add_argument('--min_nrof_images', type=int, default=10)
    parser.add_argument('--nrof_train_images', type=int, default=3)
    parser.add_argument('--max_nrof_images', type=int, default=10)
    parser.add_argument('--use_fixed_image_standardization', action='store_true')
    args = parser.parse_args()
    people = [c for c in folders.get_dataset(args.aligned_dir) if len(c) >= args.min_nrof_images]
    train_paths, train_labels, test_paths, test_labels = [], [], [], []
    for label, person in enumerate(people):
        paths = sorted(person.image_paths)[:args.max_nrof_images]
        train_paths += paths[:args.nrof_train_images]
        train_labels += [label] * args.nrof_train_images
        test_paths += paths[args.nrof_train_images:]
        test_labels += [label] * (len(paths) - args.nrof_train_images)
    print('%d people, %d training and %d test images; load %.1f'
          % (len(people), len(train_paths), len(test_paths), os.getloadavg()[0]))
    options = classifier_cos.parse_arguments(['.', '.', args.model, '--batch_size', '100'] + (
        ['--use_fixed_image_standardization'] if args.use_fixed_image_standardization else []))
    start = time.time()
    embeddings = classifier_cos.compute_embeddings(options, train_paths + test_paths)
    print('Embedded %d images in %.1f s' % (len(embeddings), time.time() - start))
    for ranking in identification.RANKINGS:
        similarity = identification.class_similarities(
            embeddings[:len(train_paths)], train_labels, embeddings[len(train_paths):],
            len(people), ranking)
        ranked = identification.nearest_classes(similarity, 5)
        print('--ranking %s: top-1 %.4f, top-5 %.4f' % (
            ranking, identification.top_k_accuracy(ranked, np.array(test_labels), 1),
            identification.top_k_accuracy(ranked, np.array(test_labels), 5)))


if __name__ == '__main__':
    main()
