"""Online triplet sampling for train_tripletloss: people sampling and semi-hard selection.

Pure numpy. ``select_triplets`` is the classic VGG-Face style selection, vectorized: each
anchor-positive pair of a person gets one negative drawn uniformly among the images of other
people closer than ``|a-p|^2 + alpha`` to the anchor (negatives violating the margin).
"""
import numpy as np


def sample_people(dataset, people_per_batch, images_per_person, rng=np.random):
    """Draw up to ``people_per_batch * images_per_person`` images, person by person.

    People are visited in random order; from each, up to ``images_per_person`` random images
    are taken until the total is reached (or the people run out).

    Returns:
        ``(image_paths, num_per_class)``: the paths grouped by person, and the group sizes.
    """
    nrof_images = people_per_batch * images_per_person
    class_indices = np.arange(len(dataset))
    rng.shuffle(class_indices)
    image_paths = []
    num_per_class = []
    for class_index in class_indices:
        if len(image_paths) >= nrof_images:
            break
        paths = dataset[class_index].image_paths
        image_indices = np.arange(len(paths))
        rng.shuffle(image_indices)
        count = min(len(paths), images_per_person, nrof_images - len(image_paths))
        image_paths += [paths[j] for j in image_indices[:count]]
        num_per_class.append(count)
    return image_paths, num_per_class


def squared_distances(embeddings):
    """N x N matrix of squared euclidean distances (float64)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    sq_norms = np.sum(emb * emb, axis=1)
    dists = sq_norms[:, None] + sq_norms[None, :] - 2.0 * emb @ emb.T
    return np.maximum(dists, 0.0)


def select_triplet_indices(embeddings, nrof_images_per_class, alpha, rng=np.random):
    """Indices ``(anchor, positive, negative)`` of the selected triplets, in random order.

    Args:
        embeddings: N x D embeddings, grouped by person as ``nrof_images_per_class`` says.
        nrof_images_per_class: images of each person, in order (summing to N).
        alpha: the triplet margin.
        rng: a numpy RandomState (or the np.random module).

    Returns:
        ``(triplets, nrof_pairs)``: K x 3 int array; number of anchor-positive pairs examined.
    """
    dists = squared_distances(embeddings)
    nrof_images = dists.shape[0]
    selected = []
    nrof_pairs = 0
    start = 0
    for count in nrof_images_per_class:
        count = int(count)
        anchors, positives = np.triu_indices(count, 1)
        anchors, positives = anchors + start, positives + start
        nrof_pairs += len(anchors)
        if len(anchors):
            pos_dist = dists[anchors, positives]  # pairs
            candidates = dists[anchors] - pos_dist[:, None] < alpha  # pairs x N
            candidates[:, start:start + count] = False  # same person: never a negative
            # Uniform choice among each row's candidates: the largest of random keys.
            keys = np.where(candidates, rng.random_sample(candidates.shape), -1.0)
            negatives = np.argmax(keys, axis=1)
            found = candidates.any(axis=1)
            selected.append(np.stack([anchors[found], positives[found], negatives[found]], 1))
        start += count
    if start != nrof_images:
        raise ValueError('nrof_images_per_class sums to %d, not %d' % (start, nrof_images))
    triplets = np.concatenate(selected) if selected else np.zeros((0, 3), np.int64)
    rng.shuffle(triplets)
    return triplets, nrof_pairs


def select_triplets(embeddings, nrof_images_per_class, image_paths, alpha, rng=np.random):
    """Classic interface: ``(triplets of paths, nrof anchor-positive pairs, nrof triplets)``."""
    indices, nrof_pairs = select_triplet_indices(embeddings, nrof_images_per_class, alpha, rng)
    triplets = [tuple(image_paths[i] for i in row) for row in indices]
    return triplets, nrof_pairs, len(triplets)
