"""Outputs that cannot be written: a clear one-line error, checked before the long work.

The cases: an output under a regular file, a directory where a file should go, a name too
long for the file system, and a full disk (a write raising ENOSPC in-process, and a real
64 KB tmpfs in a private mount namespace where the machine allows one).
"""
import errno
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from toolkit import cli, fileio
from toolkit.errors import FacenetError, OutputError


@pytest.fixture
def blocker(tmp_path):
    """A regular file where a folder is expected."""
    path = tmp_path / 'a_file'
    path.write_text('x')
    return path


def test_unwritable_reasons(tmp_path, blocker):
    assert fileio.unwritable_reason(str(tmp_path / 'new' / 'deeper' / 'out.json')) is None
    assert fileio.unwritable_reason(str(blocker / 'out.json')) == '%s is not a directory' % blocker
    assert fileio.unwritable_reason(str(blocker / 'x' / 'y'), directory=True) == (
        '%s is not a directory' % blocker)
    assert fileio.unwritable_reason(str(tmp_path)) == 'it is a directory'
    assert fileio.unwritable_reason(str(blocker), directory=True) == 'it is a file, not a directory'
    reason = fileio.unwritable_reason(str(tmp_path / ('n' * 300 + '.png')))
    assert reason.startswith('file name too long (304 bytes; the file system allows 255)')
    with pytest.raises(OutputError, match='cannot write --results file .*a_file is not a '
                                          'directory'):
        fileio.check_writable(str(blocker / 'r.json'), '--results file')


def test_atomic_writes_fail_cleanly(tmp_path, blocker):
    for path, reason in [(blocker / 'out.txt', 'is not a directory'),
                         (tmp_path, 'it is a directory'),
                         (tmp_path / ('n' * 300 + '.txt'), 'file name too long')]:
        with pytest.raises(OutputError, match='cannot write .*%s' % reason):
            with fileio.atomic_open(str(path)) as handle:
                handle.write('data')
    # A long name that fits still gets a temporary name that fits.
    long_name = tmp_path / ('n' * 250 + '.txt')
    with fileio.atomic_open(str(long_name)) as handle:
        handle.write('data')
    assert long_name.read_text() == 'data'
    assert sorted(os.listdir(tmp_path)) == sorted(['a_file', long_name.name])


def test_a_full_disk_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / 'results.json'
    target.write_text('old')
    with pytest.raises(OutputError, match='cannot write .*results.json: No space left on device'):
        with fileio.atomic_open(str(target)) as handle:
            handle.write('new')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises
    assert target.read_text() == 'old' and os.listdir(tmp_path) == ['results.json']


def test_new_folders_are_removed_when_the_run_fails_early(tmp_path):
    existing = tmp_path / 'logs'
    existing.mkdir()
    run_dirs = [existing / 'run1', tmp_path / 'models' / 'base' / 'run1']
    with pytest.raises(FacenetError):
        with fileio.NewFolders([str(path) for path in run_dirs]):
            (existing / 'run1' / 'arguments.txt').write_text('x')
            raise FacenetError('the pretrained model does not fit')
    assert os.listdir(tmp_path) == ['logs'] and os.listdir(existing) == []
    with pytest.raises(FacenetError):
        with fileio.NewFolders([str(path) for path in run_dirs]) as folders:
            folders.keep()
            raise FacenetError('a failure after training started')
    assert all(path.is_dir() for path in run_dirs)


def test_cli_turns_stray_os_errors_into_one_line(tmp_path, capsys):
    def main(args):
        open(str(tmp_path / 'missing' / 'x'), 'w')
    with pytest.raises(SystemExit) as exit_info:
        cli.run(main, lambda argv: None, [])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == 'error: %s: No such file or directory\n' % (
        tmp_path / 'missing' / 'x')


def _main_error(module, argv):
    with pytest.raises(FacenetError) as error:
        module.main(module.parse_arguments([str(a) for a in argv]))
    return str(error.value)


def test_every_writing_script_checks_its_outputs_first(tmp_path, blocker):
    """Each script refuses an output under a regular file before loading anything heavy
    (the model and data paths below do not even exist)."""
    import batch_represent
    import calculate_filtering_metrics
    import classifier
    import cluster
    import clustering
    import decode_msceleb_dataset
    import download_and_extract
    import export_embeddings
    import freeze_graph
    import real_time_face_recognition
    import train_softmax
    import train_tripletloss
    import validate_on_lfw
    from align import align_dataset_mtcnn
    bad = blocker / 'out'
    images = tmp_path / 'images' / 'person'
    images.mkdir(parents=True)
    (images / 'a.jpg').write_bytes(b'not read before the check')
    tsv = tmp_path / 'faces.tsv'
    tsv.write_text('')
    cases = [
        (freeze_graph, ['nomodel', bad / 'x.pb'], 'output file'),
        (calculate_filtering_metrics, [images.parent, 'nomodel', bad / 'f.h5'], 'filtering data'),
        (classifier, ['TRAIN', images.parent, 'nomodel', bad / 'c.pkl'], 'classifier file'),
        (validate_on_lfw, [images.parent, 'nomodel', '--roc_plot', bad / 'roc.png'], '--roc_plot'),
        (validate_on_lfw, [images.parent, 'nomodel', '--results', bad / 'r.json'], '--results'),
        (export_embeddings, ['nomodel', images.parent, '--embeddings_name', bad / 'e'], 'output'),
        (batch_represent, ['-d', images.parent, '-o', bad, '--trained_model_dir', 'nomodel'],
         'output folder'),
        (cluster, ['nomodel', images, bad], 'output folder'),
        (clustering, ['--model_dir', 'nomodel', '--input', images, '--output', bad], '--output'),
        (real_time_face_recognition, ['--output', bad / 'v.avi', '--video', 'none.avi'],
         '--output video'),
        (decode_msceleb_dataset, [bad, tsv], 'output_dir'),
        (download_and_extract, ['--models_dir', bad], '--models_dir'),
        (download_and_extract, ['--models_dir', tmp_path / 'm', '--cache_dir', bad], 'cache'),
        (align_dataset_mtcnn, [images.parent, bad], 'output_dir'),
        (train_softmax, ['--data_dir', images.parent, '--models_base_dir', bad], '--models_base'),
        (train_tripletloss, ['--data_dir', images.parent, '--logs_base_dir', bad], '--logs_base'),
    ]
    for module, argv, what in cases:
        message = _main_error(module, argv)
        assert message.startswith('cannot write %s' % what) and 'is not a directory' in message, (
            module.__name__, message)
    assert sorted(os.listdir(tmp_path)) == ['a_file', 'faces.tsv', 'images']  # nothing written


def _tmpfs_available():
    if not shutil.which('unshare') or not sys.platform.startswith('linux'):
        return False
    result = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'true'],
                            capture_output=True)
    return result.returncode == 0


@pytest.mark.skipif(not _tmpfs_available(), reason='needs unprivileged mount namespaces '
                                                   '(unshare) for a small tmpfs')
def test_a_really_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path):
    """decode_msceleb_dataset into a 64 KB tmpfs: ENOSPC after a few images."""
    import base64
    import io
    import numpy as np
    from PIL import Image
    rng = np.random.RandomState(0)
    lines = []
    for rank in range(20):
        buffer = io.BytesIO()
        Image.fromarray(rng.randint(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, 'PNG')
        lines.append('\t'.join(['m.0person', str(rank), 'u', 'p', 'FaceId-0',
                                base64.b64encode(b'\0' * 16).decode(),
                                base64.b64encode(buffer.getvalue()).decode()]) + '\n')
    tsv = tmp_path / 'faces.tsv'
    tsv.write_text(''.join(lines))
    mount_point = tmp_path / 'small_disk'
    mount_point.mkdir()
    script = os.path.join(ROOT, 'src', 'decode_msceleb_dataset.py')
    command = ('mount -t tmpfs -o size=64k none {mnt} && {python} {script} {mnt}/out {tsv}; '
               'status=$?; find {mnt} -name ".*" -type f; exit $status').format(
        mnt=mount_point, python=sys.executable, script=script, tsv=tsv)
    result = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c',
                             command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'no space left' in errors[0].lower(), result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    assert result.stdout.count('/.') == 0, result.stdout  # no hidden temporary file left
