"""train_tripletloss: people sampling, vectorized triplet selection, a short run."""
import os
import types

import numpy as np
import pytest

import models
import train_tripletloss
from test_train_softmax import event_tags, make_image_folders, make_lfw, only_subdir
from toolkit.data.folders import ImageClass
from toolkit.errors import FacenetError
from toolkit.tf_compat import tf
from toolkit.modelfiles import metadata
from toolkit.training import towers
from toolkit.training.distribute import Replicas, StopAgreement
from toolkit.training.triplets import sample_people, select_triplet_indices, select_triplets


def classic_selection(embeddings, nrof_images_per_class, alpha):
    """The classic loop, returning for every anchor-positive pair its candidate negatives."""
    candidates = []
    start = 0
    for count in nrof_images_per_class:
        for j in range(1, count):
            a = start + j - 1
            neg = np.sum(np.square(embeddings[a] - embeddings), 1)
            for pair in range(j, count):
                p = start + pair
                pos = np.sum(np.square(embeddings[a] - embeddings[p]))
                neg[start:start + count] = np.nan
                with np.errstate(invalid='ignore'):
                    candidates.append((a, p, set(np.where(neg - pos < alpha)[0])))
        start += count
    return candidates


def test_selection_matches_the_classic_rule():
    rng = np.random.RandomState(0)
    num_per_class = [4, 3, 1, 5]
    emb = rng.randn(sum(num_per_class), 8)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    alpha = 0.3
    triplets, nrof_pairs = select_triplet_indices(emb, num_per_class, alpha, np.random.RandomState(1))
    reference = classic_selection(emb, num_per_class, alpha)
    assert nrof_pairs == len(reference) == 6 + 3 + 0 + 10
    expected = {(a, p): negs for a, p, negs in reference if negs}
    assert len(triplets) == len(expected)
    for a, p, n in triplets:
        assert n in expected[(a, p)]


def test_selection_draws_negatives_uniformly():
    emb = np.array([[0.0], [0.0], [0.1], [0.2], [5.0]])  # class 0: rows 0-1; class 1: rows 2-4
    counts = np.zeros(5)
    rng = np.random.RandomState(2)
    for _ in range(400):
        triplets, _ = select_triplet_indices(emb, [2, 3], 0.5, rng)
        for a, p, n in triplets:
            if (a, p) == (0, 1):
                counts[n] += 1
    assert counts[4] == 0  # farther than the margin
    assert 150 < counts[2] < 250 and 150 < counts[3] < 250


def test_selection_on_the_classic_batch_follows_the_margin_rule():
    """45 people x 40 images (the classic batch; the timing is tmp/bench_triplet_selection.py):
    every negative is another person's image violating the margin, and exactly the pairs that
    have such a negative get a triplet."""
    rng = np.random.RandomState(3)
    people, per_person, alpha = 45, 40, 0.2
    # Even-numbered people are tight clusters (no negative within the margin), odd ones spread.
    centres = np.repeat(rng.randn(people, 128), per_person, axis=0)
    tight = np.repeat(np.arange(people) % 2 == 0, per_person)[:, None]
    emb = np.where(tight, 4.0, 0.0) * centres + rng.randn(people * per_person, 128)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    paths = ['person%02d/img%04d' % (i // per_person, i) for i in range(len(emb))]
    triplets, nrof_pairs, nrof_triplets = select_triplets(emb, [per_person] * people, paths,
                                                          alpha, rng)
    assert nrof_pairs == people * per_person * (per_person - 1) // 2
    assert nrof_triplets == len(triplets) > 0
    index = {path: i for i, path in enumerate(paths)}
    rows = np.array([[index[a], index[p], index[n]] for a, p, n in triplets])
    person = rows // per_person
    assert np.all(person[:, 0] == person[:, 1]) and np.all(rows[:, 0] < rows[:, 1])
    assert np.all(person[:, 2] != person[:, 0])
    squared = lambda i, j: np.sum(np.square(emb[i] - emb[j]), axis=1)  # noqa: E731
    assert np.all(squared(rows[:, 0], rows[:, 2]) - squared(rows[:, 0], rows[:, 1]) < alpha)
    assert len({(a, p) for a, p, _ in rows}) == len(rows)  # one triplet per pair
    # The pairs that got none have no negative within the margin.
    norms = np.sum(np.square(emb), axis=1)
    dists = norms[:, None] + norms[None, :] - 2 * emb @ emb.T
    with_negative = 0
    for first in range(0, len(emb), per_person):
        block = slice(first, first + per_person)
        anchors, positives = np.triu_indices(per_person, 1)
        anchors, positives = anchors + first, positives + first
        margins = dists[anchors] - dists[anchors, positives][:, None]
        margins[:, block] = np.inf
        with_negative += int(np.sum(np.any(margins < alpha, axis=1)))
    assert nrof_triplets == with_negative
    assert 0 < with_negative < nrof_pairs  # the margin rule keeps some pairs and drops others


def test_sample_people_groups_images_by_person():
    dataset = [ImageClass('p%d' % c, ['p%d/%d' % (c, i) for i in range(n)])
               for c, n in enumerate([5, 2, 7, 3])]
    paths, num_per_class = sample_people(dataset, 3, 4, np.random.RandomState(0))
    assert len(paths) == 12 and sum(num_per_class) == 12
    start = 0
    for count in num_per_class:
        group = paths[start:start + count]
        assert len({p.split('/')[0] for p in group}) == 1 and len(set(group)) == count
        start += count
    paths, num_per_class = sample_people(dataset, 10, 10, np.random.RandomState(0))
    assert len(paths) == 17  # every image once when the people run out


def test_classic_defaults():
    args = train_tripletloss.parse_arguments([])
    assert (args.batch_size, args.image_size, args.people_per_batch, args.images_per_person) == (90, 160, 45, 40)
    assert (args.epoch_size, args.alpha, args.embedding_size, args.keep_probability) == (1000, 0.2, 128, 1.0)
    assert (args.optimizer, args.learning_rate, args.moving_average_decay) == ('ADAGRAD', 0.1, 0.9999)
    assert args.model_def == 'models.inception_resnet_v1' and args.lfw_nrof_folds == 10


def fixed_triplet_losses(root, model_def, image_size, learning_rate, nrof_steps, *extra):
    """The triplet loss of four fixed triplets (2 people x 3 images) before each of
    ``nrof_steps`` training steps on them, and after the last: the script's own graph and
    ``train_on_triplets``, ADAGRAD, seeds fixed, no augmentation, dropout or weight decay.

    alpha 4 is the largest squared distance between unit vectors, so every triplet's hinge
    stays active: the loss is smooth and a small enough step must lower it. The batch is
    the same images in the same order at every step, so batch norms in training mode see
    the same batch statistics each time.
    """
    data_dir = make_image_folders(os.path.join(root, 'fixed_triplets'), 2, 3, size=image_size)
    first, second = (sorted(os.path.join(data_dir, name, image)
                            for image in os.listdir(os.path.join(data_dir, name)))
                     for name in sorted(os.listdir(data_dir)))
    triplets = [(first[0], first[1], second[0]), (first[1], first[2], second[1]),
                (second[0], second[1], first[2]), (second[1], second[2], first[0])]
    paths = [path for triplet in triplets for path in triplet]
    args = train_tripletloss.parse_arguments([
        '--data_dir', data_dir, '--model_def', model_def, '--image_size', str(image_size),
        '--batch_size', str(len(paths)), '--epoch_size', str(nrof_steps), '--alpha', '4.0',
        '--optimizer', 'ADAGRAD', '--learning_rate', str(learning_rate), '--weight_decay', '0',
        '--keep_probability', '1.0', '--embedding_size', '8', '--seed', '666', *extra])
    no_stop = StopAgreement(types.SimpleNamespace(requested=False))
    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        g = train_tripletloss.build_graph(args, models.import_network(model_def))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            # Each step reports the loss of its batch before its update.
            nrof_done, losses = train_tripletloss.train_on_triplets(
                args, sess, g, Replicas(), paths * nrof_steps, learning_rate, 0, 0,
                towers.NoSummaryWriter(), no_stop)
            g.batches.start(sess, paths)
            losses.append(sess.run(g.triplet_loss))
    assert nrof_done == nrof_steps
    return np.array(losses)


def assert_descends(losses, min_drop=0.2):
    """Every step lowered the loss, and the last is at least ``min_drop`` below the first."""
    assert np.all(np.diff(losses) < 0), losses
    assert losses[-1] <= (1 - min_drop) * losses[0], losses


def test_short_run(tmp_path, capsys):
    data_dir = make_image_folders(tmp_path / 'data', 4, 4)
    lfw_dir, pairs = make_lfw(tmp_path)
    args = train_tripletloss.parse_arguments([
        '--data_dir', data_dir, '--model_def', 'models.dummy', '--image_size', '20',
        '--batch_size', '36', '--epoch_size', '4', '--max_nrof_epochs', '3', '--embedding_size',
        '8', '--people_per_batch', '4', '--images_per_person', '3', '--alpha', '2.0',
        '--random_flip', '--optimizer', 'ADAGRAD', '--learning_rate', '0.5',
        '--weight_decay', '1e-4',
        '--lfw_dir', lfw_dir, '--lfw_pairs', pairs, '--lfw_nrof_folds', '2',
        '--logs_base_dir', str(tmp_path / 'logs'), '--models_base_dir', str(tmp_path / 'models'),
        '--trainable_scopes', 'Bottleneck/weights'])
    model_dir = train_tripletloss.run_training(args)
    subdir = os.path.basename(model_dir)
    assert os.path.isfile(os.path.join(model_dir, 'model-%s.meta' % subdir))
    assert os.path.isfile(os.path.join(model_dir, 'model-%s.ckpt-8.index' % subdir))
    # Between the epochs' checkpoints (steps 4 and 8) the trained weights moved; the batch
    # norm outside --trainable_scopes kept its values and its moving statistics.
    first, last = (tf.train.load_checkpoint(os.path.join(model_dir, 'model-%s.ckpt-%d'
                                                         % (subdir, step)))
                   for step in (4, 8))
    assert np.max(np.abs(first.get_tensor('Bottleneck/weights')
                         - last.get_tensor('Bottleneck/weights'))) > 1e-4
    for name in ('Bottleneck/BatchNorm/beta', 'Bottleneck/BatchNorm/moving_mean',
                 'Bottleneck/BatchNorm/moving_variance'):
        np.testing.assert_array_equal(first.get_tensor(name), last.get_tensor(name), name)
    assert metadata.read_model_metadata(model_dir)[:2] == ('prewhiten', 8)
    log_dir = only_subdir(tmp_path / 'logs')
    assert len(open(os.path.join(log_dir, 'lfw_result.txt')).readlines()) == 3
    tags = event_tags(log_dir)
    for tag in ('loss', 'time/selection', 'total_loss', 'learning_rate', 'lfw/accuracy'):
        assert tag in tags, tag
    out = capsys.readouterr().out
    # alpha 2 exceeds any distance between unit vectors: every pair gets a triplet.
    assert '(nrof_random_negs, nrof_triplets) = (12, 12)' in out
    assert 'Epoch: [1][4/4]' in out
    # The same graph and training loop, held on four fixed triplets, lower their loss.
    assert_descends(fixed_triplet_losses(str(tmp_path), 'models.dummy', 20, 3e-4, 4,
                                         '--trainable_scopes', 'Bottleneck/weights'))


@pytest.mark.parametrize('extra, message', [
    (['--batch_size', '10'], 'multiple of 3'),
    (['--model_def', 'models.squeezenet', '--image_size', '24'], 'too small'),
])
def test_bad_flags(tmp_path, extra, message):
    data_dir = make_image_folders(tmp_path / 'data', 2, 3)
    args = train_tripletloss.parse_arguments(['--data_dir', data_dir, '--model_def', 'models.dummy',
                                              '--logs_base_dir', str(tmp_path / 'logs'), *extra])
    with pytest.raises(FacenetError, match=message):
        train_tripletloss.run_training(args)
    assert not os.path.exists(tmp_path / 'logs')


def test_people_with_single_images_are_refused(tmp_path):
    data_dir = make_image_folders(tmp_path / 'data', 3, 1)
    args = train_tripletloss.parse_arguments(['--data_dir', data_dir, '--model_def', 'models.dummy'])
    with pytest.raises(FacenetError, match='no person with two images'):
        train_tripletloss.run_training(args)
