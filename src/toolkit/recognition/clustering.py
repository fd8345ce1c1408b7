"""Grouping faces by embedding: DBSCAN on distances, and chinese whispers on a face graph."""
import numpy as np

from toolkit.recognition.identification import normalize


def dbscan_labels(distances, eps, min_samples):
    """DBSCAN cluster label of each face from a precomputed distance matrix (-1: noise)."""
    from sklearn.cluster import DBSCAN
    model = DBSCAN(eps=eps, min_samples=min_samples, metric='precomputed')
    return model.fit(np.asarray(distances, dtype=np.float64)).labels_


def clusters_by_size(labels):
    """Lists of member indices per cluster, largest first (label -1, noise, left out)."""
    labels = np.asarray(labels)
    clusters = [np.flatnonzero(labels == label).tolist()
                for label in np.unique(labels) if label != -1]
    return sorted(clusters, key=lambda members: (-len(members), members[0]))


def chinese_whispers(embeddings, distance_threshold, iterations=20, rng=None):
    """Chinese whispers graph clustering (Biemann, 2006) of face embeddings.

    Faces are nodes; two faces closer than ``distance_threshold`` (euclidean, between
    L2-normalised embeddings) are joined by an edge weighted by their cosine similarity.
    Every node starts in its own cluster; in each iteration the nodes, in random order,
    take the cluster with the largest summed edge weight among their neighbours. A face
    without neighbours stays alone.

    Args:
        embeddings: N x D array.
        distance_threshold: largest distance of an edge.
        iterations: number of passes over the nodes.
        rng: numpy RandomState for the node order (default: seeded with 0).

    Returns:
        N cluster labels (small consecutive integers, largest cluster 0).
    """
    rng = rng or np.random.RandomState(0)
    unit = normalize(embeddings)
    similarity = unit @ unit.T
    distance = np.sqrt(np.maximum(2.0 - 2.0 * similarity, 0.0))
    adjacency = (distance < distance_threshold) & ~np.eye(len(unit), dtype=bool)
    weights = np.where(adjacency, similarity, 0.0)
    labels = np.arange(len(unit))
    for _ in range(iterations):
        for node in rng.permutation(len(unit)):
            neighbours = np.flatnonzero(adjacency[node])
            if len(neighbours) == 0:
                continue
            votes = np.bincount(labels[neighbours], weights=weights[node, neighbours],
                                minlength=len(unit))
            labels[node] = int(np.argmax(votes))
    return relabel_by_size(labels)


def relabel_by_size(labels):
    """Map cluster labels to 0..K-1, the largest cluster 0 (ties: first member first)."""
    result = np.empty(len(labels), dtype=np.int64)
    for new_label, members in enumerate(clusters_by_size(labels)):
        result[members] = new_label
    return result
