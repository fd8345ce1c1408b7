"""Who is this face: classifier files, nearest-neighbour search and unknown-person rejection.

A classifier file is the classic pickle of ``(model, class_names)``, ``model`` having
``predict_proba``. Ours additionally carries the training embeddings (the "gallery") as an
attribute of the model object, so the same file serves the SVM, a distance threshold to the
predicted class and a nearest-neighbour search, and still loads in the classic scripts.

Distances are euclidean between L2-normalised embeddings, the scale of compare.py and
validate_on_lfw (same person typically below ~1.1); cosine similarity s and distance d are
tied by ``d = sqrt(2 - 2 s)``.
"""
import pickle
import warnings

import numpy as np

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_open, require_file
from toolkit.safe_load import load_classifier_pickle

UNKNOWN = 'Unknown'
UNKNOWN_LABEL = -1
# Attribute of the pickled model holding (embeddings N x D float32, labels N int).
GALLERY_ATTRIBUTE = 'facenet_gallery_'
# Platt scaling is fitted by cross-validation over this many folds (fewer for tiny classes).
CALIBRATION_FOLDS = 5


# -- training and files -----------------------------------------------------------------------

def train_svc(embeddings, labels):
    """Fit a linear SVM with class probabilities on embeddings.

    The probabilities come from sigmoid (Platt) calibration of the SVM's decision values
    on held-out folds: scikit-learn's recommended replacement for ``SVC(probability=True)``
    (deprecated in scikit-learn 1.9), the same method libsvm used internally.

    Args:
        embeddings: N x D array.
        labels: N integer class labels 0..C-1, every class present.

    Returns:
        A fitted estimator with ``predict_proba``, carrying the training embeddings
        (see ``gallery``).

    Raises:
        FacenetError: fewer than two classes, or a class with fewer than two images.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels)
    if len(counts) < 2:
        raise FacenetError('training a classifier needs at least two classes, got %d'
                           % len(counts))
    if counts.min() < 2:
        raise FacenetError('every class needs at least two training images for the '
                           'probability calibration (class %d has %d)'
                           % (int(np.argmin(counts)), counts.min()))
    folds = int(min(CALIBRATION_FOLDS, counts.min()))
    model = CalibratedClassifierCV(SVC(kernel='linear'), method='sigmoid', cv=folds,
                                   ensemble=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', category=UserWarning)
        model.fit(embeddings, labels)
    set_gallery(model, embeddings, labels)
    return model


def train_nearest_neighbor(embeddings, labels):
    """A 1-nearest-neighbour classifier (cosine) over the embeddings: no training, any
    number of images per class (one is enough). Carries the gallery like ``train_svc``."""
    from sklearn.neighbors import KNeighborsClassifier
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise FacenetError('no training images')
    model = KNeighborsClassifier(n_neighbors=1, metric='cosine', algorithm='brute')
    model.fit(embeddings, labels)
    set_gallery(model, embeddings, labels)
    return model


def set_gallery(model, embeddings, labels):
    """Attach the embeddings a model was trained on (kept through pickling)."""
    setattr(model, GALLERY_ATTRIBUTE, (np.asarray(embeddings, dtype=np.float32),
                                       np.asarray(labels, dtype=np.int64)))


def gallery(model):
    """``(embeddings, labels)`` stored with a model, or None (e.g. a classic classifier)."""
    return getattr(model, GALLERY_ATTRIBUTE, None)


def save_classifier(path, model, class_names):
    """Pickle ``(model, class_names)`` atomically (never a half-written file)."""
    with atomic_open(path, 'wb') as handle:
        pickle.dump((model, list(class_names)), handle)


def model_embedding_size(model):
    """Number of input features a fitted scikit-learn model expects, or None if unknown."""
    size = getattr(model, 'n_features_in_', None)
    if size is None and hasattr(model, 'shape_fit_'):
        size = model.shape_fit_[1]
    return None if size is None else int(size)


def load_classifier(path, embedding_size=None):
    """Read a classifier file written by classifier.py TRAIN (ours or the classic one).

    The file is unpickled by ``safe_load``, which admits only the types such files hold,
    so a crafted file cannot run code.

    Args:
        path: the pickle file.
        embedding_size: when given, the embedding size of the model that will feed it.

    Returns:
        ``(model, class_names)``.

    Raises:
        FacenetError: missing file, not a pickle, a pickle naming types other than numpy's
            and the classifiers' (it is never run), not ``(model, class_names)`` with as many
            names as the model has classes, or trained on embeddings of another size
            (another embedding model).
    """
    require_file(path, 'classifier file')
    content = load_classifier_pickle(path)
    if (not isinstance(content, tuple) or len(content) != 2
            or not hasattr(content[0], 'predict_proba')):
        raise FacenetError('%s is not a classifier file: expected a pickled '
                           '(model, class_names) pair' % path)
    model, class_names = content
    if not isinstance(class_names, (list, tuple)) or not all(
            isinstance(name, str) for name in class_names):
        raise FacenetError('%s is not a classifier file: its class names are not a list of '
                           'names' % path)
    nrof_classes = len(getattr(model, 'classes_', class_names))
    if nrof_classes != len(class_names):
        raise FacenetError('%s is damaged: its model tells %d classes apart but it names %d'
                           % (path, nrof_classes, len(class_names)))
    if embedding_size is not None:
        check_embedding_size(model, embedding_size, path)
    return model, list(class_names)


def check_embedding_size(model, embedding_size, path):
    """FacenetError when a classifier was trained on embeddings of another size."""
    trained_size = model_embedding_size(model)
    if trained_size is not None and trained_size != embedding_size:
        raise FacenetError('classifier %s was trained on %d-d embeddings but the model gives '
                           '%d-d embeddings: train the classifier with this model'
                           % (path, trained_size, embedding_size))


def split_per_class(dataset, min_nrof_images_per_class, nrof_train_images_per_class, rng):
    """The classic classifier split: per class, shuffle and take the first images for training.

    Classes with fewer than ``min_nrof_images_per_class`` images are dropped. With
    ``rng = np.random.RandomState(seed)`` the split equals the classic script's
    (``np.random.seed(seed)`` then ``np.random.shuffle`` per class).

    Returns:
        ``(train_set, test_set)``: lists of data.ImageClass with the same class order.
    """
    from toolkit.data.folders import ImageClass
    train_set, test_set = [], []
    for image_class in dataset:
        paths = list(image_class.image_paths)
        if len(paths) >= min_nrof_images_per_class:
            rng.shuffle(paths)
            train_set.append(ImageClass(image_class.name, paths[:nrof_train_images_per_class]))
            test_set.append(ImageClass(image_class.name, paths[nrof_train_images_per_class:]))
    return train_set, test_set


# -- predictions ------------------------------------------------------------------------------

def best_classes(model, embeddings):
    """``(best_class_indices, best_class_probabilities)`` of the classifier for each row."""
    probabilities = model.predict_proba(np.asarray(embeddings, dtype=np.float32))
    best = np.argmax(probabilities, axis=1)
    return best, probabilities[np.arange(len(best)), best]


def normalize(embeddings):
    """Rows scaled to unit length (zero rows stay zero)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


# How a probe is compared with a class of gallery images (see class_similarities).
NEAREST_IMAGE = 'nearest'
CLASS_MEAN = 'mean'
RANKINGS = (CLASS_MEAN, NEAREST_IMAGE)


def class_similarities(gallery_embeddings, gallery_labels, probes, nrof_classes,
                       ranking=NEAREST_IMAGE):
    """Cosine similarity of each probe to each class of the gallery.

    Args:
        ranking: NEAREST_IMAGE: the similarity to the class's most similar gallery image;
            CLASS_MEAN: the similarity to the mean of the class's unit-length embeddings.

    Returns:
        probes x nrof_classes array; -inf for classes without gallery images.
    """
    gallery_embeddings = normalize(gallery_embeddings)
    gallery_labels = np.asarray(gallery_labels)
    probes = normalize(probes)
    result = np.full((len(probes), nrof_classes), -np.inf)
    present = np.unique(gallery_labels)
    if ranking == CLASS_MEAN:
        means = np.stack([gallery_embeddings[gallery_labels == label].mean(axis=0)
                          for label in present]) if len(present) else gallery_embeddings
        result[:, present] = probes @ normalize(means).T
        return result
    if ranking != NEAREST_IMAGE:
        raise ValueError('unknown ranking %r (choose from %s)' % (ranking, ', '.join(RANKINGS)))
    similarities = probes @ gallery_embeddings.T  # probes x gallery
    for label in present:
        result[:, label] = similarities[:, gallery_labels == label].max(axis=1)
    return result


def similarity_to_distance(similarity):
    """Euclidean distance between unit vectors of a given cosine similarity."""
    return np.sqrt(np.maximum(2.0 - 2.0 * np.asarray(similarity, dtype=np.float64), 0.0))


def nearest_classes(class_similarity, k):
    """Indices of the k most similar classes per probe, best first (probes x k)."""
    k = min(k, class_similarity.shape[1])
    return np.argsort(-class_similarity, axis=1, kind='stable')[:, :k]


def top_k_accuracy(ranked_classes, labels, k):
    """Fraction of probes whose true class is among the first k ranked classes.

    Probes of an identity the gallery does not hold (label -1) always count as misses.
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float('nan')
    hits = (ranked_classes[:, :k] == labels[:, None]).any(axis=1)
    return float(np.mean(hits))


def reject_unknown(best, probabilities=None, distances=None, probability_threshold=None,
                   distance_threshold=None):
    """Replace predictions by UNKNOWN_LABEL where the evidence is too weak.

    Args:
        best: predicted class per probe.
        probabilities: the predicted class's probability per probe.
        distances: distance of each probe to the predicted class.
        probability_threshold: reject below this probability (None: no test).
        distance_threshold: reject above this distance (None: no test).

    Returns:
        int array of class indices, UNKNOWN_LABEL where rejected.
    """
    predicted = np.array(best, dtype=np.int64)
    if probability_threshold is not None:
        predicted[np.asarray(probabilities) < probability_threshold] = UNKNOWN_LABEL
    if distance_threshold is not None:
        predicted[np.asarray(distances) > distance_threshold] = UNKNOWN_LABEL
    return predicted


def class_name(class_names, index):
    """Name for a predicted index, UNKNOWN for a rejected one."""
    return UNKNOWN if index == UNKNOWN_LABEL else class_names[index]


def labels_for_classifier(dataset_class_names, classifier_class_names):
    """Map dataset class indices to the classifier's, by name (UNKNOWN_LABEL if unknown).

    The classic script compared dataset indices with classifier indices directly, which
    is only right when both hold exactly the same classes in the same order.
    """
    index = {name: i for i, name in enumerate(classifier_class_names)}
    return np.array([index.get(name, UNKNOWN_LABEL) for name in dataset_class_names],
                    dtype=np.int64)


def display_name(folder_name):
    """Class name as stored in classifier files: the folder name with spaces for '_'."""
    return folder_name.replace('_', ' ')
