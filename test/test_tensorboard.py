"""TensorBoard (pinned in requirements.txt) serves a short train_softmax run's scalars over HTTP."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import h5py
import numpy as np
import pytest

import train_softmax
from test_train_softmax import make_image_folders, only_subdir, run_args

STARTUP_SECONDS = 120  # TensorBoard imports TensorFlow: slow on a loaded machine


def free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def get_json(port, path, **query):
    url = 'http://127.0.0.1:%d%s?%s' % (port, path, urllib.parse.urlencode(query))
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode('utf-8'))


def wait_for_tags(port, server, needed):
    """The scalar tags per run once every tag in ``needed`` is served (bounded in time)."""
    deadline = time.time() + STARTUP_SECONDS
    while time.time() < deadline:
        if server.poll() is not None:
            pytest.fail('tensorboard exited with status %d' % server.returncode)
        try:
            tags = get_json(port, '/data/plugin/scalars/tags')
            if any(needed <= set(run_tags) for run_tags in tags.values()):
                return tags
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    pytest.fail('tensorboard served no %s within %d s' % (sorted(needed), STARTUP_SECONDS))


def test_tensorboard_serves_the_scalars_of_a_training_run(tmp_path):
    port = free_loopback_port()
    tensorboard = os.path.join(os.path.dirname(sys.executable), 'tensorboard')
    os.makedirs(tmp_path / 'logs')
    server = subprocess.Popen(
        [tensorboard, '--logdir', str(tmp_path / 'logs'), '--host', '127.0.0.1', '--port',
         str(port), '--reload_interval', '1'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # TensorBoard starts while the run trains
        data_dir = make_image_folders(tmp_path / 'data', 3, 6)
        train_softmax.run_training(run_args(tmp_path, data_dir, '--epoch_size', '2',
                                            '--validation_set_split_ratio', '0.3',
                                            '--validate_every_n_epochs', '1'))
        log_dir = only_subdir(tmp_path / 'logs')
        with h5py.File(os.path.join(log_dir, 'stat.h5'), 'r') as stat:
            losses, val_accuracy = stat['loss'][:], stat['val_accuracy'][:]
        tags = wait_for_tags(port, server, {'total_loss (raw)', 'val/accuracy', 'learning_rate'})
        run = os.path.basename(log_dir)
        assert list(tags) == [run]
        # The summaries of the first step of each epoch (2 epochs of 2 steps).
        points = get_json(port, '/data/plugin/scalars/scalars', run=run, tag='total_loss (raw)')
        steps = [step for _, step, _ in points]
        assert len(steps) == 2 and steps[1] - steps[0] == 2 and steps[0] in (0, 1)
        np.testing.assert_allclose([value for _, _, value in points], losses[[0, 2]], rtol=1e-6)
        rates = get_json(port, '/data/plugin/scalars/scalars', run=run, tag='learning_rate')
        np.testing.assert_allclose([value for _, _, value in rates], [0.1, 0.1], rtol=1e-6)
        validation = get_json(port, '/data/plugin/scalars/scalars', run=run, tag='val/accuracy')
        np.testing.assert_allclose([value for _, _, value in validation], val_accuracy,
                                   rtol=1e-6)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
