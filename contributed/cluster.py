"""Cluster the faces in a folder of photos with DBSCAN on their embedding distances and save
one folder of face images per cluster.

    python contributed/cluster.py MODEL DATA_DIR OUT_DIR [--cluster_threshold 1.0]

Every face detected with a score above 0.95 in each photo of DATA_DIR is aligned, embedded
and clustered: faces closer than --cluster_threshold (euclidean) are neighbours, a cluster
needs --min_cluster_size faces. Clusters are saved as OUT_DIR/<cluster>/<n>.png (largest
cluster 0), or only the largest as OUT_DIR/<n>.png with --largest_cluster_only.

Differences from the classic script: saved faces are the aligned RGB crops (the classic
script saved the prewhitened arrays, rescaled); clusters are numbered by size; unreadable
files are reported and skipped; each face is listed with its photo so the distance matrix
and cluster members can be traced (the matrix is printed for up to 50 faces);
``--use_fixed_image_standardization`` for models trained with it.
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
from PIL import Image  # noqa: E402

from align.detector import FaceDetector  # noqa: E402
import models  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit import fileio  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.inference.embedder import Embedder  # noqa: E402
from toolkit.progress import Progress  # noqa: E402
from toolkit.recognition import clustering, faces  # noqa: E402

MIN_FACE_SCORE = 0.95
MAX_PRINTED_MATRIX = 50


def main(args):
    fileio.check_writable(args.out_dir, 'output folder', directory=True)
    cli.resolve_standardization(args, args.model)
    paths = folders.get_image_paths(os.path.expanduser(args.data_dir))
    if not paths:
        raise FacenetError('no images in %s' % args.data_dir)
    with FaceDetector(args.gpu_memory_fraction) as detector:
        found, sources = find_all_faces(detector, paths, args.margin, args.image_size)
    if not found:
        raise FacenetError('no face found in the %d images of %s' % (len(paths), args.data_dir))
    with Embedder(args.model, args.gpu_memory_fraction, args.image_size,
                  networks=models.import_network) as embedder:
        embeddings = faces.embed_faces(embedder, found, args.use_fixed_image_standardization)
    print('Faces:')
    for i, source in enumerate(sources):
        print('%1d: %s' % (i, source))
    distances = faces.distance_matrix(embeddings)
    if len(found) <= MAX_PRINTED_MATRIX:
        print('')
        print('Distance matrix')
        print('\n'.join(faces.distance_matrix_lines(distances)))
    print('')
    labels = clustering.dbscan_labels(distances, args.cluster_threshold, args.min_cluster_size)
    clusters = clustering.clusters_by_size(labels)
    print('No of clusters: %d' % len(clusters))
    for i, members in enumerate(clusters):
        print('Cluster %d: %s' % (i, members))
    if not clusters:
        return
    if args.largest_cluster_only:
        print('Saving largest cluster (Cluster: 0)')
        save_faces(args.out_dir, [found[i] for i in clusters[0]])
    else:
        print('Saving all clusters')
        for i, members in enumerate(clusters):
            save_faces(os.path.join(args.out_dir, str(i)), [found[j] for j in members])


def find_all_faces(detector, paths, margin, image_size):
    """Faces with a score above MIN_FACE_SCORE in every photo, and the photo of each."""
    found, sources = [], []
    with Progress(len(paths), 'Detecting faces', unit='photos') as progress:
        for index, path in enumerate(paths):
            progress(index, len(paths))
            try:
                image = folders.read_rgb_image(path)
            except FacenetError as error:
                print('skipping %s' % error)
                continue
            for face in detector.find_faces(image, margin, image_size):
                if face.score > MIN_FACE_SCORE:
                    found.append(face)
                    sources.append(path)
        progress(len(paths), len(paths))
    return found, sources


def save_faces(folder, face_list):
    """Aligned face crops as folder/1.png, 2.png, ..."""
    fileio.make_dirs(folder, 'cluster folder')
    for count, face in enumerate(face_list, 1):
        with fileio.atomic_path(os.path.join(folder, '%d.png' % count)) as tmp_path:
            Image.fromarray(np.asarray(face.image)).save(tmp_path, format='PNG')


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.margin_args(44),
                 arguments.gpu_args(), arguments.standardization_args()])
    arguments.add_model_argument(parser)
    parser.add_argument('data_dir', type=str,
                        help='The directory containing the images to cluster into folders.')
    parser.add_argument('out_dir', type=str,
                        help='The output directory where the image clusters will be saved.')
    parser.add_argument('--min_cluster_size', type=arguments.positive_int, default=1,
                        help='The minimum amount of pictures required for a cluster.')
    parser.add_argument('--cluster_threshold', type=float, default=1.0,
                        help='The maximum distance between faces of the same cluster.')
    parser.add_argument('--largest_cluster_only', action='store_true',
                        help='Only save the largest cluster.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
