"""train_softmax end to end on tiny synthetic data (dummy model unless stated)."""
import glob
import os

import h5py
import numpy as np
import pytest
from PIL import Image

import models
import train_softmax
from toolkit.errors import FacenetError
from toolkit.modelfiles import metadata
from toolkit.tf_compat import tf

CLASSIC_STATS = {'loss', 'center_loss', 'reg_loss', 'xent_loss', 'prelogits_norm', 'accuracy',
                 'val_loss', 'val_xent_loss', 'val_accuracy', 'lfw_accuracy', 'lfw_valrate',
                 'learning_rate', 'time_train', 'time_validate', 'time_evaluate', 'prelogits_hist'}


def make_image_folders(root, nrof_classes, nrof_images, size=24, seed=0, names=None):
    """``root/<class>/<class>_000i.png`` with a distinct mean colour per class."""
    rng = np.random.RandomState(seed)
    names = names or ['class%02d' % i for i in range(nrof_classes)]
    for c, name in enumerate(names):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        base = rng.randint(40, 215, 3)
        for i in range(nrof_images):
            pixels = np.clip(base + rng.randint(-40, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, name, '%s_%04d.png' % (name, i + 1)))
    return str(root)


def make_lfw(root, nrof_people=4, size=24):
    """A synthetic LFW-style folder and a 2-fold pairs file (4 same and 4 different pairs)."""
    names = ['Person_%d' % i for i in range(nrof_people)]
    make_image_folders(root / 'lfw', nrof_people, 3, size, seed=5, names=names)
    lines = ['2 2']
    for fold in range(2):
        lines += ['%s 1 %d' % (names[2 * fold + k], 2 + k) for k in range(2)]
        lines += ['%s 1 %s 2' % (names[fold], names[fold + 2]), '%s 3 %s 1' % (names[fold + 1], names[3 - fold])]
    pairs = root / 'pairs.txt'
    pairs.write_text('\n'.join(lines) + '\n')
    return str(root / 'lfw'), str(pairs)


def run_args(tmp_path, data_dir, *extra):
    return train_softmax.parse_arguments([
        '--data_dir', data_dir, '--model_def', 'models.dummy', '--image_size', '20',
        '--batch_size', '6', '--epoch_size', '3', '--max_nrof_epochs', '2', '--embedding_size', '8',
        '--logs_base_dir', str(tmp_path / 'logs'), '--models_base_dir', str(tmp_path / 'models'),
        *extra])


def only_subdir(folder):
    names = os.listdir(folder)
    assert len(names) == 1, names
    return os.path.join(folder, names[0])


def event_tags(log_dir):
    tags = set()
    for path in glob.glob(os.path.join(log_dir, 'events.out.tfevents.*')):
        for event in tf.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_classic_defaults():
    args = train_softmax.parse_arguments([])
    assert (args.batch_size, args.image_size, args.epoch_size, args.embedding_size) == (90, 160, 1000, 128)
    assert (args.keep_probability, args.weight_decay, args.center_loss_factor) == (1.0, 0.0, 0.0)
    assert (args.center_loss_alfa, args.prelogits_norm_loss_factor, args.prelogits_norm_p) == (0.95, 0.0, 1.0)
    assert (args.optimizer, args.learning_rate, args.learning_rate_decay_epochs) == ('ADAGRAD', 0.1, 100)
    assert (args.learning_rate_decay_factor, args.moving_average_decay, args.seed) == (1.0, 0.9999, 666)
    assert (args.nrof_preprocess_threads, args.max_nrof_epochs, args.prelogits_hist_max) == (4, 500, 10.0)
    assert args.model_def == 'models.inception_resnet_v1'
    assert args.data_dir == '~/datasets/casia/casia_maxpy_mtcnnalign_182_160'
    assert (args.logs_base_dir, args.models_base_dir) == ('~/logs/facenet', '~/models/facenet')
    assert args.learning_rate_schedule_file == 'data/learning_rate_schedule.txt'
    assert (args.filter_percentile, args.filter_min_nrof_images_per_class) == (100.0, 0)
    assert (args.validate_every_n_epochs, args.validation_set_split_ratio) == (5, 0.0)
    assert args.min_nrof_val_images_per_class == 0
    assert (args.lfw_pairs, args.lfw_batch_size, args.lfw_nrof_folds) == ('data/pairs.txt', 100, 10)
    assert (args.lfw_distance_metric, args.lfw_dir, args.gpu_memory_fraction) == (0, '', 1.0)


def test_short_run_writes_checkpoints_stats_summaries(tmp_path, capsys):
    data_dir = make_image_folders(tmp_path / 'data', 3, 8)
    lfw_dir, pairs = make_lfw(tmp_path)
    args = run_args(tmp_path, data_dir, '--center_loss_factor', '0.1', '--prelogits_norm_loss_factor',
                    '5e-4', '--weight_decay', '5e-4', '--optimizer', 'ADAM', '--random_crop',
                    '--random_flip', '--random_rotate', '--use_fixed_image_standardization',
                    '--validation_set_split_ratio', '0.25', '--validate_every_n_epochs', '1',
                    '--lfw_dir', lfw_dir, '--lfw_pairs', pairs, '--lfw_nrof_folds', '2',
                    '--lfw_batch_size', '5', '--lfw_use_flipped_images', '--lfw_subtract_mean',
                    '--lfw_distance_metric', '1', '--log_histograms',
                    '--trainable_scopes', 'Logits,Bottleneck/weights')
    model_dir = train_softmax.run_training(args)
    subdir = os.path.basename(model_dir)
    assert len(subdir) == 15 and subdir[8] == '-'
    # The checkpoints say how they want their input: scripts default from it.
    assert metadata.read_model_metadata(model_dir)[:2] == ('fixed', 8)
    log_dir = only_subdir(tmp_path / 'logs')
    assert os.path.basename(log_dir) == subdir
    for name in ('arguments.txt', 'revision_info.txt', 'stat.h5', 'lfw_result.txt'):
        assert os.path.isfile(os.path.join(log_dir, name)), name
    assert 'center_loss_factor: 0.1' in open(os.path.join(log_dir, 'arguments.txt')).read()
    for epoch in (1, 2):
        assert os.path.isfile(os.path.join(model_dir, 'model-%s.ckpt-%d.index' % (subdir, epoch)))
    assert os.path.isfile(os.path.join(model_dir, 'model-%s.meta' % subdir))

    with h5py.File(os.path.join(log_dir, 'stat.h5'), 'r') as stat:
        assert set(stat.keys()) == CLASSIC_STATS
        assert stat['loss'].shape == (6,) and np.all(stat['loss'][:] > 0)
        assert np.all(stat['center_loss'][:] > 0) and np.all(stat['reg_loss'][:] > 0)
        assert np.all(stat['prelogits_norm'][:] > 0)
        np.testing.assert_allclose(stat['learning_rate'][:], 0.1)
        assert stat['prelogits_hist'].shape == (2, 1000)
        assert stat['prelogits_hist'][0].sum() == 3 * 6 * 8  # steps x batch x embedding
        assert stat['val_loss'].shape == (2,) and np.all(stat['val_loss'][:] > 0)
        assert np.all((stat['lfw_accuracy'][:] > 0) & (stat['lfw_accuracy'][:] <= 1))
        assert np.all(stat['time_train'][:] > 0)
        # The classes differ in colour: the cross-entropy falls over the six steps (the total
        # loss need not, its center loss grows while the centres move away from zero).
        xent = stat['xent_loss'][:]
        assert xent[3:].mean() < 0.5 * xent[:3].mean(), xent
    # Between the two epochs' checkpoints the trained variables moved, the frozen batch norm
    # of the bottleneck (outside --trainable_scopes) did not.
    first, last = (tf.train.load_checkpoint(os.path.join(model_dir, 'model-%s.ckpt-%d'
                                                         % (subdir, epoch)))
                   for epoch in (1, 2))
    for name in ('Logits/weights', 'Logits/biases', 'Bottleneck/weights'):
        assert np.max(np.abs(first.get_tensor(name) - last.get_tensor(name))) > 1e-4, name
    for name in ('Bottleneck/BatchNorm/beta', 'Bottleneck/BatchNorm/moving_mean',
                 'Bottleneck/BatchNorm/moving_variance'):
        np.testing.assert_array_equal(first.get_tensor(name), last.get_tensor(name), name)

    tags = event_tags(log_dir)
    for tag in ('learning_rate', 'total_loss', 'total_loss (raw)', 'cross_entropy', 'accuracy',
                'time/step', 'time/total', 'val/loss', 'val/accuracy', 'lfw/accuracy',
                'lfw/val_rate', 'time/lfw', 'time/save_variables', 'Logits/weights',
                'Logits/weights/gradients'):
        assert tag in tags, tag
    out = capsys.readouterr().out
    assert 'Epoch: [2][3/3]' in out and 'Validation Epoch: 2' in out and 'Accuracy:' in out


def _depends_on(tensor, source):
    """True when ``source``'s op lies upstream of ``tensor`` in the graph."""
    seen, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op is source.op:
            return True
        for parent in list(op.inputs) + list(op.control_inputs):
            parent_op = getattr(parent, 'op', parent)
            if parent_op not in seen:
                seen.add(parent_op)
                stack.append(parent_op)
    return False


def test_training_tower_shares_the_variables_of_the_inference_tower(tmp_path):
    args = run_args(tmp_path, 'unused', '--keep_probability', '1.0', '--center_loss_factor', '0.1',
                    '--prelogits_norm_loss_factor', '0.1', '--weight_decay', '5e-4')
    images = np.random.RandomState(4).randn(6, 20, 20, 3).astype(np.float32)
    labels = [0, 1, 2, 0, 1, 2]
    with tf.Graph().as_default() as graph:
        g = train_softmax.build_graph(args, models.import_network('models.dummy'), 3)
        names = [v.op.name for v in tf.global_variables()]
        assert 'Bottleneck/weights' in names and not any('training' in n for n in names)
        tower = [op for op in graph.get_operations() if op.name.startswith('training/')]
        assert tower and not any(op.type in ('Switch', 'Merge') for op in tower)
        # The classic names: `input` reaches `embeddings`; `image_batch` feeds the training tower.
        assert (g.inference.images.op.name, g.inference.embeddings.op.name) == ('input', 'embeddings')
        assert g.train_images.op.name == 'image_batch'
        t = g.inference
        assert _depends_on(t.embeddings, t.images) and not _depends_on(t.embeddings, g.train_images)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            inference_mode = {g.inference.images: images, g.phase_train: False}
            before = sess.run(g.inference.prelogits, inference_mode)
            # The static tower computes what the switched one does in training mode ...
            train = sess.run([g.train_prelogits, g.training.total_loss, g.training.accuracy],
                             {g.train_images: images, g.labels: labels})
            switched = sess.run([g.inference.prelogits, g.validation.total_loss, g.validation.accuracy],
                                {g.inference.images: images, g.val_labels: labels, g.phase_train: True})
            for a, b in zip(train, switched):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
            # ... and its batch-norm updates reach the inference tower's moving statistics.
            assert not np.allclose(sess.run(g.inference.prelogits, inference_mode), before, atol=1e-3)
            centers = sess.run('centers:0')
            sess.run([g.validation.total_loss], {g.inference.images: images, g.val_labels: labels,
                                                 g.phase_train: False})
            np.testing.assert_array_equal(sess.run('centers:0'), centers)
            sess.run(g.train_op, {g.train_images: images, g.labels: labels,
                                  g.learning_rate_input: 0.1})
            assert not np.allclose(sess.run('centers:0'), centers)


def test_schedule_file_ends_training(tmp_path):
    data_dir = make_image_folders(tmp_path / 'data', 2, 4)
    schedule = tmp_path / 'schedule.txt'
    schedule.write_text('# two epochs\n0: 0.01\n1: 0.05\n2: -1\n')
    args = run_args(tmp_path, data_dir, '--learning_rate', '-1', '--max_nrof_epochs', '5',
                    '--learning_rate_schedule_file', str(schedule))
    model_dir = train_softmax.run_training(args)
    indexes = sorted(n for n in os.listdir(model_dir) if n.endswith('.index'))
    assert [n.rsplit('-', 1)[1] for n in indexes] == ['1.index']
    with h5py.File(os.path.join(only_subdir(tmp_path / 'logs'), 'stat.h5'), 'r') as stat:
        np.testing.assert_allclose(stat['learning_rate'][:2], [0.05, 0.0])


def _embeddings_from_checkpoint(model_dir, images):
    """Rebuild the dummy network in inference mode and restore the newest checkpoint."""
    import models.dummy as dummy
    with tf.Graph().as_default():
        inputs = tf.placeholder(tf.float32, [None] + list(images.shape[1:]))
        prelogits, _ = dummy.inference(inputs, 1.0, phase_train=False, bottleneck_layer_size=8)
        with tf.Session() as sess:
            tf.train.Saver().restore(sess, tf.train.latest_checkpoint(model_dir))
            return sess.run(prelogits, {inputs: images})


def test_save_and_restore_give_identical_outputs(tmp_path):
    data_dir = make_image_folders(tmp_path / 'data', 2, 4)
    model_dir = train_softmax.run_training(run_args(tmp_path, data_dir, '--max_nrof_epochs', '1'))
    images = np.random.RandomState(3).randn(4, 20, 20, 3).astype(np.float32)
    first = _embeddings_from_checkpoint(model_dir, images)
    # model_io loads the run folder (metagraph + newest checkpoint) like the other scripts do.
    from toolkit.modelfiles import loading
    with tf.Graph().as_default():
        with tf.Session() as sess:
            loading.load_model(model_dir, session=sess)
            tensors = loading.get_model_tensors()
            embeddings = sess.run(tensors.embeddings, loading.inference_feed(tensors, images))
    np.testing.assert_allclose(embeddings, first / np.linalg.norm(first, axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(first, _embeddings_from_checkpoint(model_dir, images))


def test_finetune_across_class_count_with_frozen_trunk(tmp_path, capsys):
    first_dir = make_image_folders(tmp_path / 'data3', 3, 4)
    first_model = train_softmax.run_training(
        run_args(tmp_path / 'a', first_dir, '--max_nrof_epochs', '1'))
    second_dir = make_image_folders(tmp_path / 'data2', 2, 4, seed=9)
    second_model = train_softmax.run_training(run_args(
        tmp_path / 'b', second_dir, '--max_nrof_epochs', '1', '--pretrained_model', first_model,
        '--trainable_scopes', 'Logits'))
    out = capsys.readouterr().out
    assert 'Restored' in out and 'Not restored' in out and 'Logits/weights' in out
    first = tf.train.load_checkpoint(tf.train.latest_checkpoint(first_model))
    second = tf.train.load_checkpoint(tf.train.latest_checkpoint(second_model))
    for name in ('Bottleneck/weights', 'Bottleneck/BatchNorm/moving_mean',
                 'Bottleneck/BatchNorm/moving_variance'):  # frozen: weights and statistics
        np.testing.assert_array_equal(first.get_tensor(name), second.get_tensor(name))
    assert first.get_tensor('Logits/weights').shape == (8, 3)
    assert second.get_tensor('Logits/weights').shape == (8, 2)

    # Stage two: everything trains, starting from stage one.
    third_model = train_softmax.run_training(run_args(
        tmp_path / 'c', second_dir, '--max_nrof_epochs', '1', '--pretrained_model', second_model))
    third = tf.train.load_checkpoint(tf.train.latest_checkpoint(third_model))
    for name in ('Bottleneck/weights', 'Bottleneck/BatchNorm/moving_mean'):
        assert not np.array_equal(third.get_tensor(name), second.get_tensor(name))
    assert 'Not restored' not in capsys.readouterr().out


@pytest.mark.parametrize('setup, message', [
    (lambda d: d.mkdir(), 'no images found'),
    (lambda d: make_image_folders(d, 1, 3), 'has 1 class'),
])
def test_bad_data_dir_fails_before_any_output(tmp_path, setup, message):
    setup(tmp_path / 'data')
    with pytest.raises(FacenetError, match=message):
        train_softmax.run_training(run_args(tmp_path, str(tmp_path / 'data')))
    assert not os.path.exists(tmp_path / 'logs') and not os.path.exists(tmp_path / 'models')


@pytest.mark.parametrize('extra, message', [
    (['--learning_rate', '-1', '--learning_rate_schedule_file', 'SCHEDULE'], 'line 2'),
    (['--pretrained_model', 'MISSING'], 'pretrained model not found'),
    (['--model_def', 'models.inception_resnet_v1', '--image_size', '64'], 'too small'),
    (['--random_crop', '--image_size', '30'], 'at least --image_size 30'),
    (['--trainable_scopes', 'NoSuchScope'], 'NoSuchScope'),
    (['--model_def', 'models.nonexistent'], 'cannot import'),
])
def test_bad_flags_fail_with_a_clear_error(tmp_path, extra, message):
    data_dir = make_image_folders(tmp_path / 'data', 2, 3)
    schedule = tmp_path / 'schedule.txt'
    schedule.write_text('0: 0.1\n10 0.01\n')
    extra = [str(schedule) if e == 'SCHEDULE' else str(tmp_path / 'missing') if e == 'MISSING'
             else e for e in extra]
    with pytest.raises(FacenetError, match=message):
        train_softmax.run_training(run_args(tmp_path, data_dir, *extra))


def test_finetune_pretrained_20170512_on_lfw_identities(tmp_path, model_128, capsys):
    """Stage one of the fine-tuning recipe from the converted classic model, end to end, with
    the HW_face fork's flags (--is_finetune: only Logits trains; --test_dir accuracy)."""
    from conftest import shared_path
    lfw = shared_path('data', 'lfw', 'images_deepfunneled')
    for name in ('Colin_Powell', 'Tony_Blair', 'Hugo_Chavez'):
        for folder, numbers in (('people', range(1, 5)), ('test', range(5, 7))):
            os.makedirs(tmp_path / folder / name)
            for i in numbers:
                image_name = '%s_%04d.jpg' % (name, i)
                os.symlink(os.path.join(lfw, name, image_name), tmp_path / folder / name / image_name)
    args = train_softmax.parse_arguments([
        '--data_dir', str(tmp_path / 'people'), '--pretrained_model', model_128,
        '--image_size', '160', '--is_finetune', '--load_without_fc', '--test_dir',
        str(tmp_path / 'test'), '--batch_size', '6', '--epoch_size', '2',
        '--max_nrof_epochs', '1', '--optimizer', 'ADAM', '--learning_rate', '0.01',
        '--logs_base_dir', str(tmp_path / 'logs'), '--models_base_dir', str(tmp_path / 'models')])
    model_dir = train_softmax.run_training(args)
    out = capsys.readouterr().out
    assert 'Restored' in out and 'Not restored (trained from scratch): Logits/weights' in out
    with h5py.File(os.path.join(only_subdir(tmp_path / 'logs'), 'stat.h5'), 'r') as stat:
        accuracy = float(stat['test_accuracy'][0])
    assert 'Top-1 accuracy %2.3f (6 images)' % accuracy in out
    assert accuracy * 6 == pytest.approx(round(accuracy * 6), abs=1e-4)
    pretrained = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_128))
    tuned = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    for name in ('InceptionResnetV1/Bottleneck/weights', 'InceptionResnetV1/Conv2d_1a_3x3/weights',
                 'InceptionResnetV1/Conv2d_1a_3x3/BatchNorm/moving_mean',
                 'InceptionResnetV1/Bottleneck/BatchNorm/moving_variance'):
        np.testing.assert_array_equal(tuned.get_tensor(name), pretrained.get_tensor(name))
    assert tuned.get_tensor('Logits/weights').shape == (128, 3)
    # Standardized as the pretrained model's metadata says; the new checkpoints say it too.
    assert args.use_fixed_image_standardization is False
    assert metadata.read_model_metadata(model_dir)[:2] == ('prewhiten', 128)


def test_filter_and_validation_split_of_several_data_dirs(tmp_path):
    from toolkit.data.filtering import write_filtering_metrics
    first = make_image_folders(tmp_path / 'a', 2, 5)
    second = make_image_folders(tmp_path / 'b', 1, 5, names=['other'])
    image_list = [os.path.join(first, 'class00', 'class00_%04d.png' % i) for i in range(1, 6)]
    distances = np.array([0.1, 0.2, 0.1, 0.15, 9.0])
    metrics = str(tmp_path / 'metrics.h5')
    write_filtering_metrics(metrics, ['class00'], image_list, np.zeros(5, int), distances)
    args = run_args(tmp_path, first + ':' + second, '--filter_filename', metrics,
                    '--filter_percentile', '90', '--validation_set_split_ratio', '0.2')
    train_set, val_set = train_softmax.load_splits(args)
    assert [c.name for c in train_set] == ['class00', 'class01', 'other']
    assert [len(c) for c in train_set] == [3, 4, 4] and [len(c) for c in val_set] == [1, 1, 1]
    kept = train_set[0].image_paths + val_set[0].image_paths
    assert image_list[4] not in kept and len(kept) == 4


def test_stop_request_saves_a_restorable_checkpoint_and_stops(tmp_path, monkeypatch, capsys):
    class RequestedAtOnce(train_softmax.StopRequest):
        """As if Ctrl-C came during the first step."""
        requested = property(lambda self: True, lambda self, value: None)

    monkeypatch.setattr(train_softmax, 'StopRequest', RequestedAtOnce)
    data_dir = make_image_folders(tmp_path / 'data', 2, 4)
    model_dir = train_softmax.run_training(run_args(tmp_path, data_dir, '--max_nrof_epochs', '3'))
    assert 'Stopped after epoch 1 as requested' in capsys.readouterr().out
    assert sorted(n for n in os.listdir(model_dir) if n.endswith('.index'))[-1].endswith('ckpt-1.index')
    assert not [n for n in os.listdir(model_dir) if n.startswith('.')]
    images = np.zeros((1, 20, 20, 3), np.float32)
    assert np.all(np.isfinite(_embeddings_from_checkpoint(model_dir, images)))
    with h5py.File(os.path.join(only_subdir(tmp_path / 'logs'), 'stat.h5'), 'r') as stat:
        assert np.count_nonzero(stat['loss'][:]) == 1  # one step, then save and stop
