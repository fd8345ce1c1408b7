"""Dataset cleaning by distance to the class centre in embedding space.

``calculate_filtering_metrics.py`` stores, for every image of a dataset, the distance of its
embedding to the mean embedding of its class; ``train_softmax.py --filter_filename`` then
drops the images farthest from their centre (likely mislabelled faces) with
``filter_dataset``. The HDF5 layout is the classic one: datasets ``class_names``,
``image_list``, ``label_list`` and ``distance_to_center``, one row per image for the last
three.

Where this departs from the classic code (on purpose):
- Images are matched by ``<class folder>/<file name>`` rather than by the full path string,
  so the file still applies when the dataset is given with another (relative, absolute,
  moved) path, and strings stored as bytes (every file read under Python 3) match at all.
- The threshold is the exact percentile of the distances (``numpy.percentile``) and only
  images strictly farther than it are dropped, so ``--filter_percentile 100`` keeps every
  image; the classic histogram estimate dropped part of the last bin even at 100.
- ``min_nrof_images_per_class`` applies to every class, as its help text says, not only to
  the classes that lost an image.
"""
import collections
import os

import h5py
import numpy as np

from toolkit.data.folders import ImageClass
from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path, require_file

FILTERING_DATASETS = ('class_names', 'image_list', 'label_list', 'distance_to_center')

FilteringMetrics = collections.namedtuple(
    'FilteringMetrics', ['class_names', 'image_list', 'label_list', 'distance_to_center'])


def distances_to_class_centers(embeddings, labels):
    """Euclidean distance of each embedding to the mean embedding of its class.

    Args:
        embeddings: float array (nrof_images, embedding_size).
        labels: int array (nrof_images,) of class indices.

    Returns:
        float array (nrof_images,); 0 for an image that is alone in its class.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or labels.shape != (embeddings.shape[0],):
        raise ValueError('need embeddings (N, D) and labels (N,), got %s and %s'
                         % (embeddings.shape, labels.shape))
    distances = np.zeros(labels.shape[0])
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        center = np.mean(embeddings[members], axis=0)
        distances[members] = np.linalg.norm(embeddings[members] - center, axis=1)
    return distances


def streamed_distances_to_class_centers(embed, image_paths, labels, batch_size,
                                        progress=None):
    """distances_to_class_centers over a dataset embedded batch by batch.

    Only the embeddings of classes not yet complete are kept in memory, so the dataset
    may be far larger than its embedding matrix would be.

    Args:
        embed: callable mapping a list of image paths to an array (len(paths), D).
        image_paths, labels: the flat dataset, labels grouped (each class contiguous),
            as from ``get_image_paths_and_labels``.
        batch_size: number of images per ``embed`` call.
        progress: optional callable ``(nrof_done, nrof_images)`` after each batch.

    Returns:
        float array (nrof_images,).
    """
    labels = np.asarray(labels)
    nrof_images = len(image_paths)
    if np.any(np.diff(labels) < 0):
        raise ValueError('labels must be grouped by class in ascending order')
    class_starts = {}
    for index, label in enumerate(labels):
        class_starts.setdefault(label, index)
    distances = np.full(nrof_images, np.nan)
    pending, pending_start = [], 0
    for start in range(0, nrof_images, batch_size):
        pending.append(np.asarray(embed(image_paths[start:start + batch_size])))
        done = min(start + batch_size, nrof_images)
        # Everything before the first image of the class still being read is complete.
        complete = nrof_images if done == nrof_images else class_starts[labels[done]]
        if complete > pending_start:
            block = np.concatenate(pending)
            split = complete - pending_start
            distances[pending_start:complete] = distances_to_class_centers(
                block[:split], labels[pending_start:complete])
            pending, pending_start = [block[split:]], complete
        if progress:
            progress(done, nrof_images)
    return distances


def write_filtering_metrics(filename, class_names, image_list, label_list, distance_to_center):
    """Write the classic filtering-metrics HDF5 file (atomically)."""
    if not len(image_list) == len(label_list) == len(distance_to_center):
        raise ValueError('image_list, label_list and distance_to_center differ in length')
    strings = h5py.string_dtype(encoding='utf-8')
    with atomic_path(filename) as tmp_path:
        with h5py.File(tmp_path, 'w') as handle:
            handle.create_dataset('class_names', data=list(class_names), dtype=strings)
            handle.create_dataset('image_list', data=list(image_list), dtype=strings)
            handle.create_dataset('label_list', data=np.asarray(label_list, dtype=np.int64))
            handle.create_dataset('distance_to_center',
                                  data=np.asarray(distance_to_center, dtype=np.float64))


def _as_text(value):
    return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def read_filtering_metrics(filename):
    """Read a filtering-metrics file written by this toolkit or the classic one.

    Returns:
        FilteringMetrics with lists of str for the names and paths, numpy arrays for the
        labels and distances. ``class_names`` is an empty list when the file has none.

    Raises:
        FacenetError: missing file, not HDF5, or a dataset missing or of the wrong length.
    """
    require_file(filename, 'filtering metrics file')
    try:
        with h5py.File(filename, 'r') as handle:
            missing = [name for name in FILTERING_DATASETS[1:] if name not in handle]
            if missing:
                raise FacenetError('%s is not a filtering metrics file (no dataset %s)'
                                   % (filename, ', '.join(missing)))
            image_list = [_as_text(value) for value in handle['image_list'][()]]
            label_list = np.asarray(handle['label_list'][()], dtype=np.int64)
            distance_to_center = np.asarray(handle['distance_to_center'][()], dtype=np.float64)
            class_names = ([_as_text(value) for value in handle['class_names'][()]]
                           if 'class_names' in handle else [])
    except OSError as error:
        raise FacenetError('cannot read filtering metrics file %s: %s' % (filename, error)) from None
    if not len(image_list) == len(label_list) == len(distance_to_center):
        raise FacenetError('%s is inconsistent: image_list, label_list and distance_to_center '
                           'have %d, %d and %d rows' % (filename, len(image_list),
                                                        len(label_list), len(distance_to_center)))
    return FilteringMetrics(class_names, image_list, label_list, distance_to_center)


def find_threshold(distances, percentile):
    """The ``percentile`` (0..100) of the finite distances; images beyond it are outliers."""
    if not 0.0 <= percentile <= 100.0:
        raise FacenetError('filter percentile must be in [0, 100], got %s' % percentile)
    finite = np.asarray(distances, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise FacenetError('the filtering metrics hold no finite distance')
    return float(np.percentile(finite, percentile))


def image_key(path):
    """``<class folder>/<file name>``: how an image is recognised across dataset paths."""
    path = os.path.normpath(_as_text(path))
    return os.path.basename(os.path.dirname(path)) + '/' + os.path.basename(path)


def outlier_keys(metrics, percentile):
    """Keys (see image_key) of the images farther from their class centre than the percentile."""
    threshold = find_threshold(metrics.distance_to_center, percentile)
    with np.errstate(invalid='ignore'):
        far = np.flatnonzero(metrics.distance_to_center > threshold)
    return {image_key(metrics.image_list[i]) for i in far}


def filter_dataset(dataset, data_filename, percentile, min_nrof_images_per_class):
    """Drop outlier images, then classes left with too few images.

    Args:
        dataset: list of ImageClass (as from ``get_dataset``); not modified.
        data_filename: HDF5 file from ``calculate_filtering_metrics.py``.
        percentile: keep images whose distance to their class centre is at most this
            percentile of all distances (100 keeps all).
        min_nrof_images_per_class: then drop classes with fewer images than this.

    Returns:
        A new list of ImageClass.

    Raises:
        FacenetError: unreadable file, bad percentile, or a file that describes none of the
            dataset's images.
    """
    metrics = read_filtering_metrics(data_filename)
    known = {image_key(path) for path in metrics.image_list}
    if dataset and not any(image_key(path) in known
                           for image_class in dataset for path in image_class.image_paths):
        raise FacenetError('filtering metrics file %s describes none of the dataset images '
                           '(was it calculated for another dataset?)' % data_filename)
    outliers = outlier_keys(metrics, percentile)
    filtered = []
    for image_class in dataset:
        kept = [path for path in image_class.image_paths if image_key(path) not in outliers]
        if len(kept) >= min_nrof_images_per_class:
            filtered.append(ImageClass(image_class.name, kept))
    return filtered
