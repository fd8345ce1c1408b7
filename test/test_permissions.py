"""Permission denied: an output folder that cannot be written, an input image and model files
that cannot be read: each a one-line error (or, in a training folder, a counted warning).

File modes do not stop the superuser, so as root the scripts run as user nobody (setpriv or
runuser) on files that belong to root; as another user the files are simply chmod-ed.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT
from test_bad_input import _save_dummy_checkpoint
from test_train_softmax import make_image_folders

NOBODY = 65534
BATCH = os.path.join(ROOT, 'test', 'script_batch.py')


def other_user_prefix():
    """The command prefix that runs a command as a user file modes apply to ([] unless root);
    skips the test when no such user can run this Python."""
    if os.geteuid() != 0:
        return []
    candidates = [['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'],
                  ['runuser', '-u', 'nobody', '--']]
    for prefix in candidates:
        if shutil.which(prefix[0]) and subprocess.run(
                prefix + [sys.executable, '-c', 'import numpy, PIL'], capture_output=True,
                cwd='/', timeout=60).returncode == 0:
            return prefix
    pytest.skip('running as root, where file modes do not apply, and neither setpriv nor '
                'runuser can run %s as user nobody' % sys.executable)


@pytest.fixture
def workspace(tmp_path):
    """A folder the other user can enter: tmp_path itself, or as root a fresh folder that
    user can read (pytest's own is private to root)."""
    if os.geteuid() != 0:
        yield tmp_path
        for folder, _, _ in os.walk(str(tmp_path)):  # let pytest clean up
            os.chmod(folder, 0o755)
        return
    folder = tempfile.mkdtemp(prefix='facenet-permissions-')
    os.chmod(folder, 0o755)
    yield type(tmp_path)(folder)
    shutil.rmtree(folder)


def unreadable(path):
    """Nobody but root may read ``path`` (as root, the other user is not its owner)."""
    os.chmod(str(path), 0o600 if os.geteuid() == 0 else 0)


def unwritable_folder(path):
    path.mkdir()
    os.chmod(str(path), 0o755 if os.geteuid() == 0 else 0o555)
    return path


def writable_folder(path):
    path.mkdir()
    os.chmod(str(path), 0o777)
    return path


def run_as_other_user(prefix, cases, home):
    env = dict(os.environ, HOME=str(home))
    result = subprocess.run(prefix + [sys.executable, BATCH, json.dumps(cases)],
                            capture_output=True, text=True, env=env, cwd=str(home), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_permission_denied_is_one_line(workspace):
    prefix = other_user_prefix()
    for folder in ('', 'images', 'images/person'):
        (workspace / folder).mkdir(exist_ok=True)
        os.chmod(str(workspace / folder), 0o755)
    secret = workspace / 'images' / 'person' / 'secret.jpg'
    secret.write_bytes(b'never read')
    unreadable(secret)
    locked_out = unwritable_folder(workspace / 'locked')
    out = writable_folder(workspace / 'out')
    model = workspace / 'model'
    prefix_path = _save_dummy_checkpoint(model)
    for name in os.listdir(str(model)):
        os.chmod(str(model / name), 0o644)
    os.chmod(str(model), 0o755)
    unreadable(prefix_path + '.data-00000-of-00001')
    graph = workspace / 'frozen.pb'
    graph.write_bytes(b'never read')
    unreadable(graph)
    data = make_image_folders(workspace / 'data', 2, 3)
    unreadable(workspace / 'data' / 'class00' / 'class00_0001.png')
    for folder, _, _ in os.walk(data):
        os.chmod(folder, 0o755)
    results = run_as_other_user(prefix, [
        ['align.align_dataset_mtcnn', [str(workspace / 'images'), str(locked_out)]],
        ['freeze_graph', [str(model), str(locked_out / 'f.pb')]],
        ['freeze_graph', [str(model), str(out / 'f.pb')]],
        ['unfreeze_graph', [str(graph), str(out / 'unfrozen')]],
        ['compare', [str(model), str(secret)]],
        ['train_softmax', ['--data_dir', data, '--model_def', 'models.dummy', '--image_size',
                           '20', '--batch_size', '4', '--epoch_size', '1', '--max_nrof_epochs',
                           '1', '--embedding_size', '8', '--logs_base_dir', str(out / 'logs'),
                           '--models_base_dir', str(out / 'models')]],
    ], workspace)
    expected_errors = [
        'cannot write output_dir %s: no permission to write in %s' % (locked_out, locked_out),
        'cannot write output file %s: no permission to write in %s'
        % (locked_out / 'f.pb', locked_out),
        'cannot read checkpoint data file %s.data-00000-of-00001: Permission denied'
        % prefix_path,
        'cannot read model file %s: Permission denied' % graph,
        'no face found in any of the 1 images',
    ]
    for result, error in zip(results, expected_errors):
        assert (result['status'], result['stderr']) == (1, 'error: %s\n' % error), result
    assert "can't use %s: cannot read image %s: Permission denied" % (secret, secret) in \
        results[4]['stdout']
    training = results[5]
    assert training['status'] == 0, training
    assert ('warning: 1 of the 6 images in --data_dir cannot be decoded and are left out: %s '
            '(cannot be read (Permission denied))'
            % (workspace / 'data' / 'class00' / 'class00_0001.png')) in training['stdout']
    assert 'Number of examples in training set: 5' in training['stdout']
    assert os.listdir(str(locked_out)) == [] and sorted(os.listdir(str(out))) == [
        'logs', 'models']
    assert stat.S_IMODE(os.stat(str(secret)).st_mode) in (0o600, 0)  # still unreadable
