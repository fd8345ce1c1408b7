"""Data-parallel training on tf.distribute: CPU devices in one process, two worker processes."""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

import models
import train_softmax
import train_tripletloss
from conftest import SRC
from test_train_softmax import make_image_folders, only_subdir
from toolkit.errors import FacenetError
from toolkit.tf_compat import tf
from toolkit.data.input_pipeline import Augmentation, ImageBatches
from toolkit.training import checkpoints
from toolkit.training.distribute import (Cluster, Replicas, StopAgreement, parse_devices,
                                        read_tf_config)
from worker_step import (IRV1_ARGV, IRV1_DTYPE, NROF_CLASSES, STEP_ARGS, global_batch,
                         irv1_batch)

TWO_CPUS = ('/cpu:0', '/cpu:1')
HERE = os.path.dirname(os.path.abspath(__file__))


# -- flags --------------------------------------------------------------------------------
def test_device_flags():
    assert parse_devices('') == ()
    assert parse_devices('/gpu:0, /gpu:1') == ('/gpu:0', '/gpu:1')
    assert parse_devices(num_gpus=3) == ('/gpu:0', '/gpu:1', '/gpu:2')
    for devices, num_gpus, message in (('/gpu:0', 2, 'not both'), ('/tpu:0', 0, 'not a device'),
                                       ('gpu0', 0, 'not a device'),
                                       ('/cpu:0,/device:CPU:0', 0, 'twice')):
        with pytest.raises(FacenetError, match=message):
            parse_devices(devices, num_gpus)
    args = train_softmax.parse_arguments(['--num_gpus', '4', '--sync_batch_norm'])
    assert (args.num_gpus, args.sync_batch_norm, args.devices, args.worker_timeout) == \
        (4, True, '', 1800)
    assert train_tripletloss.parse_arguments([]).sync_batch_norm is False


def test_tf_config():
    cluster = {'worker': ['host1:2222', 'host2:2222']}
    config = read_tf_config(json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': 1}}))
    assert config == Cluster(('host1:2222', 'host2:2222'), 1) and not config.is_chief
    assert read_tf_config('') is None
    assert read_tf_config(json.dumps({'cluster': {'worker': ['a:1']},
                                      'task': {'type': 'worker', 'index': 0}})) is None
    for text, message in (('{not json', 'not valid'),
                          (json.dumps({'cluster': dict(cluster, ps=['p:1']),
                                       'task': {'type': 'worker', 'index': 0}}), 'only "worker"'),
                          (json.dumps({'cluster': cluster, 'task': {'type': 'worker', 'index': 2}}),
                           'not among the 2 workers')):
        with pytest.raises(FacenetError, match=message):
            read_tf_config(text)


def test_the_global_batch_must_split_evenly(tmp_path):
    replicas = Replicas(TWO_CPUS)
    assert replicas.local_batch_size(90) == 90 and replicas.num_replicas == 2
    with pytest.raises(FacenetError, match='--batch_size 7 does not split evenly over 2 '
                                           'replicas: use a multiple of 2'):
        replicas.local_batch_size(7)
    with pytest.raises(FacenetError, match='multiple of 6'):
        replicas.local_batch_size(9, multiple=3)
    data_dir = make_image_folders(tmp_path / 'data', 2, 4, size=8)
    for script in (train_softmax, train_tripletloss):
        args = script.parse_arguments([
            '--data_dir', data_dir, '--model_def', 'models.dummy', '--image_size', '8',
            '--batch_size', '9', '--devices', '/cpu:0,/cpu:1',
            '--logs_base_dir', str(tmp_path / 'logs'), '--models_base_dir', str(tmp_path / 'models')])
        with pytest.raises(FacenetError, match='does not split evenly'):
            script.run_training(args)
    assert not os.path.exists(tmp_path / 'logs') and not os.path.exists(tmp_path / 'models')


def test_each_replica_and_worker_gets_distinct_images(tmp_path):
    batch = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
    replicas = Replicas(TWO_CPUS)
    with tf.Graph().as_default():
        with replicas.scope():
            fed = tf.placeholder(tf.float32, [None, 2])
            slices = replicas.for_each_replica(lambda: replicas.replica_slice(fed))
        with tf.Session(config=replicas.session_config()) as sess:
            parts = sess.run(slices, {fed: batch})
    np.testing.assert_array_equal(np.concatenate(parts), batch)  # every row once, in order
    # Each worker's input pipeline reads its shard of the same list (Dataset.shard).
    data_dir = make_image_folders(tmp_path / 'data', 1, 12, size=4)
    paths = sorted(glob.glob(os.path.join(data_dir, '*', '*.png')))
    read = {}
    with tf.Graph().as_default():
        for shuffled in (True, False):
            for index in (0, 1):
                batches = ImageBatches(4, 3, Augmentation(), 1, shuffle_and_repeat=shuffled,
                                       seed=1, shard=(2, index))
                with tf.Session() as sess:
                    batches.start(sess, paths, range(12))
                    if shuffled:  # one epoch's worth: two batches of 3
                        labels = [sess.run(batches.labels) for _ in range(2)]
                    else:
                        labels = [b for _, b in batches.batches(sess)]
                read[shuffled, index] = [list(b) for b in labels]
    shares = [sum(read[True, index], []) for index in (0, 1)]
    assert sorted(shares[0] + shares[1]) == list(range(12))  # disjoint, covering the epoch
    # In order (the triplet passes): worker k reads the k-th part of each global batch of 6.
    assert read[False, 0] == [[0, 1, 2], [6, 7, 8]] and read[False, 1] == [[3, 4, 5], [9, 10, 11]]


def test_workers_stop_together_after_the_step_that_carries_a_request():
    class Local:
        requested = False

    local = Local()
    assert StopAgreement(local).requested is False
    local.requested = True
    assert StopAgreement(local).requested is True  # one process: the local request
    with tf.Graph().as_default():
        fed = tf.placeholder_with_default(0.0, [])
        agreed = fed + tf.placeholder_with_default(0.0, [], name='other_worker')
        with tf.Session() as sess:
            for mine, others, expected in ((False, 0.0, False), (False, 1.0, True),
                                           (True, 0.0, True)):
                local.requested = mine
                stop = StopAgreement(local, (fed, agreed))
                assert stop.requested is False  # a local request alone changes nothing ...
                fetches, feed = {}, {}
                stop.add_to_step(fetches, feed)
                feed['other_worker:0'] = others
                stop.count(sess.run(fetches, feed))
                assert stop.requested is expected  # ... until a step has carried it


# -- the same math ------------------------------------------------------------------------
def train_steps(script, argv, devices, feeds, nrof_classes=NROF_CLASSES, network='models.dummy',
                pipeline_paths=None, grappler=True, dtype='float32'):
    """Every variable before and after ``len(feeds)`` training steps, the reported losses and
    learning rates, and whether each mirrored variable's copies agree.

    ``pipeline_paths``: start the input pipeline on these images first (the Inception-ResNet
    step reads it even when image_batch is fed). ``grappler=False`` turns TensorFlow's graph
    optimizer off in the session: on the graphs of Inception-ResNet-v1 it takes most of a
    session's first step (48.8 s with it, 6.7 s without, for 2 replicas at load 4), and the
    math of the step is the same without it. ``dtype``: the network's float type."""
    args = script.parse_arguments(argv)
    replicas = Replicas(devices)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        module = models.import_network(network)
        g = (script.build_graph(args, module, nrof_classes, replicas, dtype)
             if script is train_softmax else script.build_graph(args, module, replicas))
        variables = tf.global_variables()
        names = [v.op.name for v in variables]
        copies = [list(getattr(v, 'values', [v])) for v in variables]
        reported = g.training.total_loss if script is train_softmax else g.total_loss
        config = replicas.session_config()
        config.graph_options.rewrite_options.disable_meta_optimizer = not grappler
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            if pipeline_paths:
                g.train_batches.start(sess, pipeline_paths, [0] * len(pipeline_paths))
            before = dict(zip(names, sess.run(variables)))
            losses, rates = [], []
            for images, labels in feeds:
                out = sess.run([g.train_op, reported, g.learning_rate],
                               {g.train_images: images, g.labels: labels,
                                g.learning_rate_input: 0.1})
                losses.append(out[1])
                rates.append(out[2])
            after = dict(zip(names, sess.run(variables)))
            agree = all(np.array_equal(values[0], other) for values in sess.run(copies)
                        for other in values[1:])
    return before, after, np.array(losses), np.array(rates), agree


def assert_same_steps(one, two, tolerance=1e-3):
    """Every variable moved alike: the difference of the changes within ``tolerance`` of the
    largest change of that variable (of a thousandth of the step's largest change for the
    variables that barely move, whose change is float rounding itself)."""
    before1, after1, losses1, rates1, _ = one
    before2, after2, losses2, rates2, agree = two
    assert agree, 'the copies of a mirrored variable differ'
    # All but the TensorBoard loss averages (named after the averaged tensors; never saved).
    compared = sorted(name for name in after1 if not re.search('/avg(_[0-9]+)?$', name))
    assert compared == sorted(name for name in after2 if not re.search('/avg(_[0-9]+)?$', name))
    np.testing.assert_allclose(losses2, losses1, rtol=1e-4)
    np.testing.assert_allclose(rates2, rates1, rtol=1e-6)
    changes = {}
    for name in compared:
        np.testing.assert_array_equal(before1[name], before2[name], err_msg=name)
        changes[name] = (np.asarray(after1[name], np.float64) - before1[name],
                         np.asarray(after2[name], np.float64) - before2[name])
    largest = max(np.abs(change1).max() for change1, _ in changes.values())
    moved = 0
    for name, (change1, change2) in changes.items():
        scale = np.abs(change1).max()
        moved += scale > 0
        floor = max(scale, 1e-3 * largest, 1e-12)
        allowed = tolerance * floor
        difference = float(np.abs(change1 - change2).max())
        assert difference <= allowed, '%s: the changes differ by %.3g (%.2g of its step), ' \
            'allowed %.3g' % (name, difference, difference / floor, allowed)
    return moved


SOFTMAX_ARGV = STEP_ARGS + ['--learning_rate_decay_epochs', '1', '--epoch_size', '1',
                            '--learning_rate_decay_factor', '0.5']


def test_two_replicas_make_the_step_of_one_device():
    """Sync batch norm, center loss, prelogits norm, weight decay, Adam, moving averages and
    a decaying learning rate: two steps on 2 replicas change every variable as on one device."""
    images, labels = global_batch()
    feeds = [(images, labels), (images[::-1], labels[::-1])]
    one = train_steps(train_softmax, SOFTMAX_ARGV, (), feeds)
    two = train_steps(train_softmax, SOFTMAX_ARGV, TWO_CPUS, feeds)
    moved = assert_same_steps(one, two)
    assert moved >= 20  # weights, batch norm, centers, slots, moving averages, global step
    assert two[1]['global_step'] == 2
    assert two[3][1] == pytest.approx(0.05)  # decayed after one epoch of one step
    for name in ('centers', 'Bottleneck/BatchNorm/moving_variance',
                 'Bottleneck/weights/ExponentialMovingAverage', 'total_loss/avg'):
        assert not np.array_equal(one[0][name], one[1][name]), name


@pytest.fixture(scope='module')
def irv1_one_device(tmp_path_factory):
    """``(pipeline image paths, one device's step)`` of Inception-ResNet-v1 (80 x 80, batch
    4, momentum, weight decay, sync batch norm) in float64 (see IRV1_DTYPE)."""
    folder = tmp_path_factory.mktemp('irv1_images')
    paths = sorted(glob.glob(os.path.join(make_image_folders(folder, 1, 4, size=80), '*',
                                          '*.png')))
    one = train_steps(train_softmax, IRV1_ARGV, (), [irv1_batch()],
                      network='models.inception_resnet_v1', pipeline_paths=paths,
                      grappler=False, dtype=IRV1_DTYPE)
    return paths, one


# In float64 the replicas' steps match one device's to about 6e-13 of each variable's step
# (measured); a millionth still leaves float64 rounding a margin of a million.
IRV1_TOLERANCE = 1e-6


def test_inception_resnet_v1_on_two_replicas_makes_the_step_of_one_device(irv1_one_device):
    """Every variable of Inception-ResNet-v1 moves on 2 replicas as on one device, to a
    millionth of its step."""
    paths, one = irv1_one_device
    two = train_steps(train_softmax, IRV1_ARGV, TWO_CPUS, [irv1_batch()],
                      network='models.inception_resnet_v1', pipeline_paths=paths,
                      grappler=False, dtype=IRV1_DTYPE)
    assert assert_same_steps(one, two, IRV1_TOLERANCE) >= 490


def test_without_sync_batch_norm_each_replica_normalizes_its_own_half():
    argv = [a for a in STEP_ARGS if a != '--sync_batch_norm']
    images, labels = global_batch()
    two = train_steps(train_softmax, argv, TWO_CPUS, [(images, labels)])
    halves = [train_steps(train_softmax, argv, (), [(images[h], labels[h])])
              for h in (slice(0, 4), slice(4, 8))]
    # The reported loss is the mean of the halves' losses, and the moving statistics move by
    # the mean of the halves' updates.
    np.testing.assert_allclose(two[2], np.mean([h[2] for h in halves], 0), rtol=1e-5)
    for name in ('Bottleneck/BatchNorm/moving_mean', 'Bottleneck/BatchNorm/moving_variance'):
        expected = np.mean([h[1][name] for h in halves], 0)
        np.testing.assert_allclose(two[1][name], expected, rtol=1e-5, atol=1e-7)
    one = train_steps(train_softmax, argv, (), [(images, labels)])
    variance = 'Bottleneck/BatchNorm/moving_variance'
    assert not np.allclose(two[1][variance], one[1][variance], rtol=1e-4)


def test_triplet_replicas_embed_and_train_as_one_device():
    rng = np.random.RandomState(3)
    images = rng.randn(12, 8, 8, 3).astype(np.float32)
    argv = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '12',
            '--embedding_size', '4', '--weight_decay', '0.01', '--optimizer', 'RMSPROP',
            '--alpha', '0.5', '--sync_batch_norm']
    feeds = [(images, np.arange(12))]
    assert_same_steps(train_steps(train_tripletloss, argv, (), feeds),
                      train_steps(train_tripletloss, argv, TWO_CPUS, feeds))
    # The sampled people's embeddings: each replica embeds its rows, all are gathered.
    embedded = []
    for devices in ((), TWO_CPUS):
        replicas = Replicas(devices)
        with tf.Graph().as_default():
            tf.set_random_seed(1)
            g = train_tripletloss.build_graph(train_tripletloss.parse_arguments(argv),
                                              models.import_network('models.dummy'), replicas)
            with tf.Session(config=replicas.session_config()) as sess:
                sess.run(tf.global_variables_initializer())
                embedded.append(sess.run([g.sample_embeddings, g.sample_labels],
                                         {g.train_images: images, g.labels: np.arange(12)[::-1]}))
    np.testing.assert_allclose(embedded[1][0], embedded[0][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embedded[1][1], np.arange(12)[::-1])


# -- two worker processes on this machine -------------------------------------------------
def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(('127.0.0.1', 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _tf_config(addresses, index):
    return json.dumps({'cluster': {'worker': addresses}, 'task': {'type': 'worker', 'index': index}})


def _private_network_prefix():
    """``unshare`` into a network namespace holding only loopback, when the system allows."""
    if not shutil.which('unshare') or not shutil.which('ip'):
        return []
    try:
        subprocess.run(['unshare', '-rn', 'true'], check=True, timeout=10, capture_output=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return ['unshare', '-rn', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"']


def run_cluster(folder, workers, timeout, interrupt=None):
    """Run ``[(argv, env, log name)]`` at once through cluster_launcher (bounded, stopped by
    it); returns the exit codes and the logs' text. ``interrupt``: ``{worker number: text}``,
    Ctrl-C to that worker once its log shows the text."""
    spec = os.path.join(str(folder), 'cluster.json')
    logs = [os.path.join(str(folder), name) for _, _, name in workers]
    interrupt = interrupt or {}
    with open(spec, 'w') as handle:
        json.dump({'timeout': timeout, 'workers': [
            {'argv': argv, 'env': env, 'log': log, 'interrupt': interrupt.get(i)}
            for i, ((argv, env, _), log) in enumerate(zip(workers, logs))]}, handle)
    command = _private_network_prefix() + [sys.executable, os.path.join(HERE, 'cluster_launcher.py'),
                                           spec]
    subprocess.run(command, check=True, timeout=timeout + 60)
    with open(spec + '.result') as handle:
        codes = json.load(handle)
    return codes, [open(log).read() for log in logs]


def worker_step_result(output, rates):
    """A worker_step.py output as train_steps returns it (with the learning ``rates`` of the
    run it is compared with)."""
    values = np.load(output)
    before = {n: values['before/' + n] for n in values['names']}
    after = {n: values['after/' + n] for n in values['names']}
    return before, after, values['loss'][None], rates, True


def test_two_worker_processes_make_the_step_of_one_device_and_name_a_lost_worker(tmp_path):
    addresses = ['localhost:%d' % port for port in _free_ports(2)]
    outputs = [str(tmp_path / ('worker%d.npz' % i)) for i in (0, 1)]
    codes, logs = run_cluster(tmp_path, [
        ([sys.executable, os.path.join(HERE, 'worker_step.py'), outputs[i], '20'],
         {'TF_CONFIG': _tf_config(addresses, i)}, 'worker%d.log' % i) for i in (0, 1)], 240)
    assert codes == [0, 0], logs
    single = train_steps(train_softmax, STEP_ARGS, (), [global_batch()])
    for output in outputs:
        assert_same_steps(single, worker_step_result(output, single[3]))
    # Worker 1 has gone: worker 0's next step stops with a message naming it.
    message = open(outputs[0] + '.message').read()
    assert 'worker 1 (%s)' % addresses[1] in message, message


def test_inception_resnet_v1_on_two_worker_processes_makes_the_step_of_one_device(
        irv1_one_device, tmp_path):
    """Every variable of Inception-ResNet-v1 moves on 2 worker processes (one CPU replica
    each, collective all-reduce) as on one device, to a millionth of its step."""
    paths, one = irv1_one_device
    addresses = ['localhost:%d' % port for port in _free_ports(2)]
    outputs = [str(tmp_path / ('worker%d.npz' % i)) for i in (0, 1)]
    codes, logs = run_cluster(tmp_path, [
        ([sys.executable, os.path.join(HERE, 'worker_step.py'), outputs[i], '300', *paths],
         {'TF_CONFIG': _tf_config(addresses, i)}, 'worker%d.log' % i) for i in (0, 1)], 600)
    assert codes == [0, 0], logs
    for output in outputs:
        assert assert_same_steps(one, worker_step_result(output, one[3]),
                                 IRV1_TOLERANCE) >= 490


def test_workers_that_would_resume_at_different_epochs_all_stop(tmp_path):
    """Replicas.check_same_epoch on 3 worker processes: first all at epoch 5, then at 3, 2
    and 4. The worker at 3 sees the sum it expects (9) but not the sum of squares (29, not
    27): every worker must refuse, naming itself and its epoch."""
    addresses = ['localhost:%d' % port for port in _free_ports(3)]
    outputs = [str(tmp_path / ('epochs%d.json' % i)) for i in range(3)]
    codes, logs = run_cluster(tmp_path, [
        ([sys.executable, os.path.join(HERE, 'worker_epochs.py'), outputs[i], '120', '5', epoch],
         {'TF_CONFIG': _tf_config(addresses, i)}, 'worker%d.log' % i)
        for i, epoch in enumerate(('3', '2', '4'))], 240)
    assert codes == [0, 0, 0], logs
    for index, (output, epoch) in enumerate(zip(outputs, (3, 2, 4))):
        first, second = json.load(open(output))
        assert first == 'same'
        assert second.startswith('the workers would start at different epochs (this is worker '
                                 '%d (%s), at epoch %d; the mean over the workers is 3.00)'
                                 % (index, addresses[index], epoch)), second


SCRIPT_ARGV = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '4',
               '--epoch_size', '2', '--max_nrof_epochs', '1', '--embedding_size', '4',
               '--center_loss_factor', '0.1', '--optimizer', 'ADAM', '--sync_batch_norm']


def single_device_checkpoint(folder, data_dir):
    """A checkpoint of train_softmax's single-device graph (initial values), and its
    variables' names and shapes."""
    args = train_softmax.parse_arguments(SCRIPT_ARGV + ['--data_dir', data_dir])
    with tf.Graph().as_default():
        g = train_softmax.build_graph(args, models.import_network('models.dummy'), 3)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            prefix = g.saver.save(sess, os.path.join(str(folder), 'model-single.ckpt-0'))
    return prefix, dict(tf.train.list_variables(prefix))


@pytest.fixture(scope='module')
def two_worker_run(tmp_path_factory):
    """train_softmax.py as two workers (from a single-device checkpoint), and a third process
    whose cluster's other worker never starts; all at once."""
    root = tmp_path_factory.mktemp('two_workers')
    data_dir = make_image_folders(root / 'data', 3, 4, size=8)
    pretrained, layout = single_device_checkpoint(root, data_dir)
    ports = _free_ports(4)
    cluster = ['localhost:%d' % port for port in ports[:2]]
    lonely = ['localhost:%d' % port for port in ports[2:]]
    script = os.path.join(SRC, 'train_softmax.py')

    def worker(addresses, index, name, *extra):
        argv = [sys.executable, script, *SCRIPT_ARGV, '--data_dir', data_dir,
                '--logs_base_dir', str(root / name / 'logs'),
                '--models_base_dir', str(root / name / 'models'), *extra]
        return argv, {'TF_CONFIG': _tf_config(addresses, index)}, name + '.log'

    codes, logs = run_cluster(root, [
        worker(cluster, 0, 'chief', '--pretrained_model', pretrained),
        worker(cluster, 1, 'worker1', '--pretrained_model', pretrained),
        worker(lonely, 0, 'lonely', '--worker_timeout', '3')], 300)
    return root, codes, logs, layout, data_dir


def test_two_workers_train_and_only_the_chief_writes(two_worker_run):
    root, codes, logs, layout, _ = two_worker_run
    assert codes[:2] == [0, 0], logs[:2]
    chief_log, worker_log = logs[:2]
    assert 'this is worker 0 (localhost:' in chief_log and '(chief)' in chief_log
    assert 'this is worker 1 (localhost:' in worker_log and '(chief)' not in worker_log
    assert 'Restored %d variables from pretrained model' % len(layout) in worker_log
    assert 'Epoch: [1][2/2]' in worker_log and 'Saving variables' not in worker_log
    log_dir = only_subdir(root / 'chief' / 'logs')
    for name in ('arguments.txt', 'revision_info.txt', 'stat.h5'):
        assert os.path.isfile(os.path.join(log_dir, name)), name
    assert glob.glob(os.path.join(log_dir, 'events.out.tfevents.*'))
    assert not os.path.exists(root / 'worker1' / 'logs')
    assert not os.path.exists(root / 'worker1' / 'models')


def test_a_distributed_checkpoint_has_the_single_device_layout(two_worker_run, tmp_path, capsys):
    root, codes, _, layout, data_dir = two_worker_run
    assert codes[0] == 0
    model_dir = only_subdir(root / 'chief' / 'models')
    subdir = os.path.basename(model_dir)
    prefix = os.path.join(model_dir, 'model-%s.ckpt-1' % subdir)
    assert dict(tf.train.list_variables(prefix)) == layout
    with tf.Graph().as_default() as graph:
        saver = tf.train.import_meta_graph(os.path.join(model_dir, 'model-%s.meta' % subdir),
                                           clear_devices=True)
        assert not [op.name for op in graph.get_operations() if 'replica' in op.name]
        with tf.Session() as sess:
            saver.restore(sess, prefix)
            embeddings = sess.run('embeddings:0', {'input:0': np.zeros((2, 8, 8, 3)),
                                                   'phase_train:0': False})
    assert embeddings.shape == (2, 4)
    # A single-device run goes on from the distributed checkpoint.
    args = train_softmax.parse_arguments(SCRIPT_ARGV + [
        '--data_dir', data_dir, '--pretrained_model', model_dir,
        '--logs_base_dir', str(tmp_path / 'logs'), '--models_base_dir', str(tmp_path / 'models')])
    train_softmax.run_training(args)
    assert 'Restored %d variables from pretrained model %s' % (len(layout), prefix) \
        in capsys.readouterr().out


def test_a_worker_that_cannot_be_reached_is_named(two_worker_run):
    root, codes, logs, _, _ = two_worker_run
    assert codes[2] == 1, logs[2]
    assert 'error: worker 1 (localhost:' in logs[2] and 'cannot be reached' in logs[2]
    assert 'Traceback' not in logs[2]
    assert not os.path.exists(root / 'lonely' / 'logs')  # nothing written


# -- Ctrl-C on the chief, and resuming with the same command ------------------------------
INTERRUPT_ARGV = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '4',
                  '--epoch_size', '20', '--max_nrof_epochs', '3', '--embedding_size', '4',
                  '--optimizer', 'ADAM', '--learning_rate', '0.1',
                  '--learning_rate_decay_epochs', '1', '--learning_rate_decay_factor', '0.5',
                  '--run_name', 'run', '--worker_timeout', '60']


def _epoch_lines(log):
    """``[(epoch, batch, learning rate)]`` of a train_softmax log."""
    return [(int(e), int(b), float(lr)) for e, b, lr in
            re.findall(r'Epoch: \[(\d+)\]\[(\d+)/\d+\].*\tLr ([0-9.]+)', log)]


def test_ctrl_c_on_the_chief_stops_both_workers_and_the_same_command_resumes(tmp_path):
    """Two workers of train_softmax (and, alongside, two of train_tripletloss for a short
    run); Ctrl-C on the softmax chief stops both after the same step with a checkpoint, and
    the same command on both resumes from it: same global step, same learning rate."""
    data_dir = make_image_folders(tmp_path / 'data', 3, 4, size=8)
    ports = _free_ports(4)
    softmax, triplet = (['localhost:%d' % port for port in ports[i:i + 2]] for i in (0, 2))
    softmax_argv = [sys.executable, os.path.join(SRC, 'train_softmax.py'), *INTERRUPT_ARGV,
                    '--data_dir', data_dir, '--logs_base_dir', str(tmp_path / 'logs'),
                    '--models_base_dir', str(tmp_path / 'models')]
    triplet_argv = [sys.executable, os.path.join(SRC, 'train_tripletloss.py'),
                    '--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '6',
                    '--epoch_size', '2', '--max_nrof_epochs', '1', '--embedding_size', '4',
                    '--people_per_batch', '3', '--images_per_person', '4', '--alpha', '4',
                    '--data_dir', data_dir, '--worker_timeout', '60',
                    '--logs_base_dir', str(tmp_path / 'tlogs'),
                    '--models_base_dir', str(tmp_path / 'tmodels')]

    def worker(argv, addresses, index, name):
        env = {'TF_CONFIG': _tf_config(addresses, index), 'PYTHONUNBUFFERED': '1'}
        return argv, env, name + '.log'

    spec = [worker(softmax_argv, softmax, 0, 'chief'), worker(softmax_argv, softmax, 1, 'worker'),
            worker(triplet_argv, triplet, 0, 'triplet0'), worker(triplet_argv, triplet, 1, 'triplet1')]
    codes, logs = run_cluster(tmp_path, spec, 240, interrupt={0: 'Epoch: [1][2/20]'})
    assert codes == [0, 0, 0, 0], logs
    chief, other = logs[:2]
    stopped = int(re.search(r'Stopped after epoch (\d+) as requested', chief).group(1))
    assert 'Stopped after epoch %d as requested' % stopped in other
    assert 'Traceback' not in chief + other
    assert stopped < 3  # the same step on both workers:
    assert _epoch_lines(chief)[-1][:2] == _epoch_lines(other)[-1][:2]
    steps_done = 20 * (stopped - 1) + _epoch_lines(chief)[-1][1]
    model_dir = str(tmp_path / 'models' / 'run')
    state, epoch = checkpoints.newest_training_state(model_dir)
    assert epoch == stopped
    assert tf.train.load_checkpoint(state).get_tensor('global_step') == steps_done
    checkpoints.resolve_checkpoint(model_dir)  # the classic checkpoint is restorable
    # The 2-process triplet run trained, and only its chief wrote.
    for log in logs[2:]:
        assert 'Epoch: [0][2/2]' in log and 'Traceback' not in log, log
    assert len(os.listdir(tmp_path / 'tmodels')) == 1
    assert 'Saving variables' in logs[2] and 'Saving variables' not in logs[3]

    codes, logs = run_cluster(tmp_path, spec[:2], 240)
    assert codes == [0, 0], logs
    for log in logs:
        assert 'Resuming run run after epoch %d' % stopped in log
        first = _epoch_lines(log)[0]
        assert first[:2] == (stopped + 1, 1)
        assert first[2] == pytest.approx(0.1 * 0.5 ** (steps_done // 20), abs=1e-5)
    state, epoch = checkpoints.newest_training_state(model_dir)
    assert epoch == 3
    assert tf.train.load_checkpoint(state).get_tensor('global_step') == \
        steps_done + 20 * (3 - stopped)
