"""align_dataset_mtcnn.py: classic crops and outputs, bad files, parallel runs, killed runs."""
import gc
import glob
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, shared_path
from align import align_dataset_mtcnn, claims, dataset_aligner, detect_face, local_aligners
from align.detector import FaceDetector
from toolkit import session
from toolkit.errors import FacenetError

SCRIPT = os.path.join(ROOT, 'src', 'align', 'align_dataset_mtcnn.py')
PEOPLE = ['Aaron_Peirsol', 'Abdullah_Gul', 'Ai_Sugiyama', 'Alan_Ball']


def _lfw_path(name):
    person = name.rsplit('_', 1)[0]
    return os.path.join(shared_path('data', 'lfw', 'images_deepfunneled'), person, name + '.jpg')


def _copy_lfw(input_dir, names):
    """Copy LFW images into ``input_dir/<person>/``; returns their (person, name) pairs."""
    copied = []
    for name in names:
        person = name.rsplit('_', 1)[0]
        os.makedirs(os.path.join(input_dir, person), exist_ok=True)
        shutil.copy(_lfw_path(name), os.path.join(input_dir, person, name + '.jpg'))
        copied.append((person, name))
    return copied


def _align(capsys, *argv):
    status = align_dataset_mtcnn.main(align_dataset_mtcnn.parse_arguments([str(a) for a in argv]))
    assert status == 0
    return capsys.readouterr().out


def _bounding_box_lines(output_dir):
    lines = []
    for path in glob.glob(os.path.join(output_dir, 'bounding_boxes_*.txt')):
        with open(path) as handle:
            lines.extend(line.split() for line in handle if line.strip())
    return lines


def test_classic_defaults_and_flags():
    args = align_dataset_mtcnn.parse_arguments(['in', 'out'])
    assert (args.input_dir, args.output_dir, args.image_size, args.margin) == ('in', 'out', 182, 44)
    assert (args.random_order, args.detect_multiple_faces, args.gpu_memory_fraction) == (False, False, 1.0)
    assert args.batch_size == 32
    parse = align_dataset_mtcnn.parse_arguments
    assert parse(['in', 'out', '--detect_multiple_faces', 'True']).detect_multiple_faces is True
    assert parse(['in', 'out', '--detect_multiple_faces', 'False']).detect_multiple_faces is False
    assert parse(['in', 'out', '--detect_multiple_faces']).detect_multiple_faces is True
    with pytest.raises(SystemExit):
        parse(['in', 'out', '--gpu_memory_fraction', '1.5'])


def test_missing_input_dir_is_a_clear_error(tmp_path):
    args = align_dataset_mtcnn.parse_arguments([str(tmp_path / 'absent'), str(tmp_path / 'out')])
    with pytest.raises(FacenetError, match='dataset directory not found'):
        align_dataset_mtcnn.main(args)
    assert not os.path.exists(tmp_path / 'out')


def test_a_failure_while_the_detector_is_built_leaves_the_garbage_collector_on(
        tmp_path, monkeypatch):
    # Garbage collection is paused from before TensorFlow's import until the detector is
    # frozen; an error in between must not leave it off for the rest of the process.
    os.makedirs(tmp_path / 'raw' / 'person')
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / 'raw' / 'person' / 'a.png')

    def failing_detector(*args, **kwargs):
        assert not gc.isenabled()
        raise FacenetError('no detector')

    monkeypatch.setattr(align_dataset_mtcnn, 'FaceDetector', failing_detector)
    args = align_dataset_mtcnn.parse_arguments([str(tmp_path / 'raw'), str(tmp_path / 'out')])
    assert gc.isenabled()
    with pytest.raises(FacenetError, match='no detector'):
        align_dataset_mtcnn.main(args)
    assert gc.isenabled()


def test_classic_crop_geometry_outputs_and_session_config(tmp_path, capsys, monkeypatch):
    input_dir, output_dir = tmp_path / 'raw', tmp_path / 'aligned'
    images = _copy_lfw(input_dir, ['Aaron_Peirsol_0001', 'Abdullah_Gul_0003', 'Alan_Ball_0002'])
    detectors = []

    class RecordingDetector(FaceDetector):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            detectors.append(self)

    monkeypatch.setattr(align_dataset_mtcnn, 'FaceDetector', RecordingDetector)
    # Alone on the machine, whatever other aligners run meanwhile: all the cores.
    monkeypatch.setattr(local_aligners, 'default_directory', lambda: str(tmp_path / 'aligners'))
    out = _align(capsys, input_dir, output_dir, '--image_size', 160, '--margin', 32,
                 '--gpu_memory_fraction', 0.25)
    assert 'Total number of images: 3' in out
    assert 'Number of successfully aligned images: 3' in out
    assert os.path.isfile(output_dir / 'revision_info.txt')
    config = detectors[0].session._config
    assert config.gpu_options.per_process_gpu_memory_fraction == pytest.approx(0.25)
    # Cores are shared by batches side by side (one thread per op), not by splitting ops.
    assert config.intra_op_parallelism_threads == 1
    assert config.inter_op_parallelism_threads == session.usable_cores()

    boxes_files = glob.glob(str(output_dir / 'bounding_boxes_*.txt'))
    assert len(boxes_files) == 1 and len(os.path.basename(boxes_files[0])) == len('bounding_boxes_12345.txt')
    lines = {line[0]: [int(v) for v in line[1:]] for line in _bounding_box_lines(output_dir)}
    with FaceDetector() as detector:
        for person, name in images:
            img = np.asarray(Image.open(_lfw_path(name)).convert('RGB'))
            boxes, _ = detect_face.detect_face(img, 20, detector.pnet, detector.rnet,
                                               detector.onet, [0.6, 0.7, 0.7], 0.709)
            assert boxes.shape[0] == 1
            # The classic script's arithmetic, spelled out.
            det = boxes[0, 0:4]
            bb = np.zeros(4, dtype=np.int32)
            bb[0] = np.maximum(det[0] - 32 / 2, 0)
            bb[1] = np.maximum(det[1] - 32 / 2, 0)
            bb[2] = np.minimum(det[2] + 32 / 2, img.shape[1])
            bb[3] = np.minimum(det[3] + 32 / 2, img.shape[0])
            expected = np.asarray(Image.fromarray(img[bb[1]:bb[3], bb[0]:bb[2], :])
                                  .resize((160, 160), Image.BILINEAR))
            output_path = str(output_dir / person / (name + '.png'))
            assert lines[output_path] == bb.tolist()
            np.testing.assert_array_equal(np.asarray(Image.open(output_path)), expected)


def _save_variants(folder, source):
    """One LFW face in every awkward format, plus files that are no images at all."""
    os.makedirs(folder, exist_ok=True)
    img = Image.open(source)
    img.convert('L').save(os.path.join(folder, 'gray.png'))
    img.convert('RGBA').save(os.path.join(folder, 'rgba.png'))
    img.convert('CMYK').save(os.path.join(folder, 'cmyk.jpg'))
    gray16 = np.asarray(img.convert('L'), dtype=np.uint16) * 257
    Image.fromarray(gray16).save(os.path.join(folder, 'deep16.png'))
    Image.new('RGB', (8, 8), (200, 150, 120)).save(os.path.join(folder, 'tiny.png'))
    with open(source, 'rb') as handle:
        jpeg = handle.read()
    with open(os.path.join(folder, 'truncated.jpg'), 'wb') as handle:
        handle.write(jpeg[:len(jpeg) // 3])
    with open(os.path.join(folder, 'text.jpg'), 'w') as handle:
        handle.write('not an image\n')
    with open(os.path.join(folder, '.DS_Store'), 'wb') as handle:
        handle.write(b'\x00\x00\x00\x01Bud1')
    with open(os.path.join(folder, 'notes.txt'), 'w') as handle:
        handle.write('a text file\n')
    pair = np.hstack([np.asarray(img.convert('RGB')),
                      np.asarray(Image.open(_lfw_path('Abdullah_Gul_0003')).convert('RGB'))])
    Image.fromarray(pair).save(os.path.join(folder, 'pair.png'))


def test_bad_files_and_multiple_faces(tmp_path, capsys):
    input_dir, output_dir = tmp_path / 'raw', tmp_path / 'aligned'
    _save_variants(str(input_dir / 'odd'), _lfw_path('Aaron_Peirsol_0001'))
    out = _align(capsys, input_dir, output_dir)
    assert 'Total number of images: 8' in out      # .DS_Store and notes.txt are not images
    assert 'Number of successfully aligned images: 5' in out
    for name in ('gray', 'rgba', 'cmyk', 'deep16', 'pair'):
        with Image.open(output_dir / 'odd' / (name + '.png')) as aligned:
            assert (aligned.size, aligned.mode) == ((182, 182), 'RGB')
    assert 'Unable to align "%s"' % (input_dir / 'odd' / 'tiny.png') in out
    for name in ('truncated.jpg', 'text.jpg'):
        assert '%s: cannot read image' % (input_dir / 'odd' / name) in out
    assert sorted(os.listdir(output_dir / 'odd')) == sorted(
        ['gray.png', 'rgba.png', 'cmyk.png', 'deep16.png', 'pair.png'])
    # The pair keeps its main face (the larger, more central one); --detect_multiple_faces
    # writes both.
    multiple_dir = tmp_path / 'multiple'
    out = _align(capsys, input_dir, multiple_dir, '--detect_multiple_faces', 'True')
    assert 'Number of successfully aligned images: 6' in out
    assert os.path.isfile(multiple_dir / 'odd' / 'pair_0.png')
    assert os.path.isfile(multiple_dir / 'odd' / 'pair_1.png')
    assert not os.path.exists(multiple_dir / 'odd' / 'pair.png')
    lines = _bounding_box_lines(str(multiple_dir))
    assert [line[0] for line in lines].count(str(multiple_dir / 'odd' / 'tiny.png')) == 1


def test_four_parallel_processes_align_each_image_once(tmp_path):
    input_dir, output_dir = tmp_path / 'raw', tmp_path / 'aligned'
    names = ['Aaron_Peirsol_0001', 'Aaron_Peirsol_0002', 'Aaron_Peirsol_0003',
             'Abdullah_Gul_0001', 'Abdullah_Gul_0002', 'Ai_Sugiyama_0001', 'Ai_Sugiyama_0002',
             'Alan_Ball_0001']
    images = _copy_lfw(input_dir, names)
    command = [sys.executable, SCRIPT, str(input_dir), str(output_dir), '--random_order',
               '--batch_size', '2']
    processes = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        assert 'Total number of images: 8' in out
    aligned = [int(out.split('Number of successfully aligned images: ')[1].split()[0])
               for out, _ in outputs]
    assert sum(aligned) == 8
    # Started together: beyond one per two cores they wait (and leave: the first ones did it
    # all); the active ones see each other once TensorFlow is loaded and share the cores.
    cores = session.usable_cores()
    waited = [out for out, _ in outputs if 'waiting for one of them to finish' in out]
    assert len(waited) == max(0, 4 - local_aligners.folder_slots(cores))
    assert all('Every image is aligned or being aligned by another process' in out
               and 'Number of successfully aligned images: 0' in out for out in waited)
    shares = re.findall(r'(\d+) active aligner processes on this machine: this one uses (\d+) '
                        r'of its (\d+) cores', ''.join(out for out, _ in outputs))
    assert all(int(n) >= 2 and int(used) == max(1, int(c) // int(n)) for n, used, c in shares)
    assert shares or local_aligners.folder_slots(cores) == 1
    expected = sorted(str(output_dir / person / (name + '.png')) for person, name in images)
    lines = _bounding_box_lines(str(output_dir))
    # One file per process that aligned (a process that only waited writes none).
    assert len(glob.glob(str(output_dir / 'bounding_boxes_*.txt'))) == 4 - len(waited)
    assert sorted(line[0] for line in lines) == expected   # each image listed exactly once
    assert sorted(glob.glob(str(output_dir / '*' / '*.png'))) == expected
    assert not glob.glob(str(output_dir / '*' / '.*'))     # no temporary files left
    store = claims.ImageClaims(str(output_dir))
    assert all(store.is_done(person, name) for person, name in images)


KILLED_WRITER = '''
import os, sys
sys.path.insert(0, sys.argv[1])
from align import claims
from toolkit.fileio import atomic_path
claim = claims.ImageClaims(sys.argv[2]).claim('Abdullah_Gul', 'Abdullah_Gul_0001')
assert claim is not None
with atomic_path(os.path.join(sys.argv[2], 'Abdullah_Gul', 'Abdullah_Gul_0001.png')) as tmp:
    with open(tmp, 'wb') as handle:
        handle.write(b'half a PNG')
    os._exit(9)   # killed: no cleanup, no done marker
'''


def test_killed_run_resumes_and_live_claims_are_respected(tmp_path, capsys):
    input_dir, output_dir = tmp_path / 'raw', tmp_path / 'aligned'
    _copy_lfw(input_dir, ['Abdullah_Gul_0001', 'Abdullah_Gul_0002', 'Ai_Sugiyama_0001'])
    killed = subprocess.run([sys.executable, '-c', KILLED_WRITER, os.path.join(ROOT, 'src'),
                             str(output_dir)], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    leftovers = glob.glob(str(output_dir / 'Abdullah_Gul' / '.Abdullah_Gul_0001.*.tmp.png'))
    assert len(leftovers) == 1
    store = claims.ImageClaims(str(output_dir))
    live = store.claim('Ai_Sugiyama', 'Ai_Sugiyama_0001')   # "another process" at work
    assert live is not None and not live.stale
    out = _align(capsys, input_dir, output_dir)
    assert 'Number of successfully aligned images: 2' in out
    assert 'Images aligned earlier or by another process: 1' in out
    assert not os.path.exists(leftovers[0])
    assert sorted(os.listdir(output_dir / 'Abdullah_Gul')) == ['Abdullah_Gul_0001.png',
                                                               'Abdullah_Gul_0002.png']
    with Image.open(output_dir / 'Abdullah_Gul' / 'Abdullah_Gul_0001.png') as aligned:
        assert aligned.size == (182, 182)
    assert not os.path.exists(output_dir / 'Ai_Sugiyama' / 'Ai_Sugiyama_0001.png')
    live.release()
    out = _align(capsys, input_dir, output_dir)
    assert 'Number of successfully aligned images: 1' in out
    assert 'Images aligned earlier or by another process: 2' in out
    assert os.path.isfile(output_dir / 'Ai_Sugiyama' / 'Ai_Sugiyama_0001.png')
    names = sorted(line[0] for line in _bounding_box_lines(str(output_dir)))
    assert len(names) == len(set(names)) == 3


def test_image_reader_reads_ahead_in_order_and_skips_done_images(tmp_path):
    paths = []
    for i in range(5):
        paths.append(str(tmp_path / ('%d.png' % i)))
        Image.fromarray(np.full((30 + i, 40, 3), i, np.uint8)).save(paths[-1])
    (tmp_path / 'bad.jpg').write_bytes(b'not a JPEG')
    paths.insert(2, str(tmp_path / 'bad.jpg'))
    work = [('c', path, os.path.basename(path)) for path in paths]
    seen = []

    def wanted(item):
        seen.append(item[2])
        return item[2] != '3.png'

    with dataset_aligner.ImageReader(work, _pyramid, wanted, nrof_threads=2,
                                     ahead=3) as reader:
        assert len(seen) <= 3  # read ahead, but not further than asked
        results = [(item, read, read.exception() or read.result()) for item, read in reader]
    assert [item for item, _, _ in results] == work
    for (_, path, name), read, result in results:
        if name == 'bad.jpg':
            with pytest.raises(FacenetError, match='cannot read image'):
                read.result()
        elif name == '3.png':
            assert result is None
        else:
            image, levels = result
            np.testing.assert_array_equal(image, np.asarray(Image.open(path)))
            assert levels == {} or all(level.dtype == np.uint8 for level in levels.values())
            assert sorted(levels) == sorted(detect_face.pyramid_levels(image, 20, 0.709))


def test_image_reader_keeps_large_images_few_and_without_pyramid(tmp_path, monkeypatch):
    work = []
    for i in range(4):
        path = str(tmp_path / ('%d.png' % i))
        Image.fromarray(np.full((60, 80, 3), i, np.uint8)).save(path)
        work.append(('c', path, '%d.png' % i))
    seen = []

    def wanted(item):
        seen.append(item[2])
        return True

    monkeypatch.setattr(dataset_aligner, 'PYRAMID_AHEAD_PIXELS', 60 * 80 - 1)
    with dataset_aligner.ImageReader(work, _pyramid, wanted, nrof_threads=1, ahead=10,
                                     ahead_bytes=1) as reader:
        time.sleep(0.5)
        assert seen == ['0.png']  # one image's pixels already exceed the budget
        results = [read.result() for _, read in reader]
    assert seen == ['0.png', '1.png', '2.png', '3.png']
    assert all(levels is None and image.shape == (60, 80, 3) for image, levels in results)


def test_image_reader_read_ahead_drops_reads_not_started(tmp_path):
    work = []
    for i in range(6):
        path = str(tmp_path / ('%d.png' % i))
        Image.fromarray(np.full((30, 40, 3), i, np.uint8)).save(path)
        work.append(('c', path, '%d.png' % i))
    second_started, go_on = threading.Event(), threading.Event()

    def slow_pyramid(image):
        if image[0, 0, 0] == 1:  # the second image: the others are queued by now
            second_started.set()
            go_on.wait(10)
        return _pyramid(image)

    with dataset_aligner.ImageReader(work, slow_pyramid, nrof_threads=1, ahead=6) as reader:
        assert second_started.wait(10)
        reader.read_ahead(2)
        go_on.set()
        reads = [read for _, read in reader]
        assert [read.cancelled() for read in reads] == [False] * 2 + [True] * 4
        assert reads[1].result()[0][0, 0, 0] == 1
    # The aligner reads a dropped image itself.
    job = dataset_aligner.ImageJob('c', work[3][1], '3', str(tmp_path), claim=None)
    job.read = reads[3]
    assert dataset_aligner.DatasetAligner(None, str(tmp_path), 160, 32)._read(job)
    assert job.image.shape == (30, 40, 3) and job.image[0, 0, 0] == 3 and job.read is None


def test_last_batches_shrink_so_that_the_workers_end_together(tmp_path):
    assert [dataset_aligner.batch_size_near_the_end(32, 2, left)
            for left in (400, 64, 63, 48, 24, 3, 1)] == [32, 32, 32, 24, 12, 2, 1]
    assert dataset_aligner.batch_size_near_the_end(32, 1, 20) == 20
    assert dataset_aligner.batch_size_near_the_end(1, 2, 1) == 1
    sizes = []

    class CountingDetector:
        def prepare_runs(self):  # the first job of the workers (see FaceDetector)
            sizes.append('prepared')

        def detect_batch(self, images, profile=None, levels=None):
            sizes.append(len(images))
            return [(np.empty((0, 5)), np.empty((10, 0)))] * len(images)

    work = []
    for i in range(10):
        path = str(tmp_path / 'in' / ('%d.png' % i))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.full((30, 40, 3), i, np.uint8)).save(path)
        work.append(('c', path, str(i)))
    output_dir = str(tmp_path / 'out')
    os.makedirs(output_dir)
    aligner = dataset_aligner.DatasetAligner(CountingDetector(), output_dir, 160, 32,
                                             batch_size=4, log=lambda line: None,
                                             nrof_workers=2)
    with dataset_aligner.open_bounding_boxes_file(output_dir) as boxes_file:
        counts = aligner.run(work, boxes_file)
    assert sizes.count('prepared') == 1
    sizes.remove('prepared')
    assert sorted(sizes, reverse=True) == [4, 3, 2, 1] and counts['no_face'] == 10


def _pyramid(image):
    return detect_face.pyramid_levels(image, 20, 0.709)


HOLDER = '''
import os, sys
sys.path.insert(0, sys.argv[1])
from align import local_aligners
directory, output_dir, stop_file = sys.argv[2:5]
with local_aligners.LocalAligners(output_dir, directory) as aligners:
    active = aligners.wait_for_a_core(1, lambda: not os.path.exists(stop_file),
                                      lambda line: print(line, flush=True), poll_seconds=0.05)
    print('active' if active else 'left', flush=True)
    sys.stdin.readline()
'''


def _holder(directory, output_dir, stop_file):
    return subprocess.Popen([sys.executable, '-c', HOLDER, os.path.join(ROOT, 'src'), directory,
                             str(output_dir), str(stop_file)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_local_aligners_share_the_cores_and_queue_beyond_them(tmp_path):
    directory, output_dir, stop = str(tmp_path / 'aligners'), tmp_path / 'out', tmp_path / 'stop'
    assert local_aligners.cores_share(2, 4) == 1 and local_aligners.cores_share(8, 3) == 2
    assert local_aligners.cores_share(2, 1) == 2
    assert [local_aligners.folder_slots(cores) for cores in (1, 2, 3, 8)] == [1, 1, 1, 4]
    mine = local_aligners.LocalAligners(str(output_dir), directory).__enter__()
    assert mine.wait_for_a_core(1, lambda: True, print) and mine.count_active() == 1
    # A second aligner of the folder on one core waits, and leaves once no work is left.
    second = _holder(directory, output_dir, stop)
    assert 'waiting for one of them to finish' in second.stdout.readline()
    assert mine.count_active() == 1 and len(mine.others()) == 1
    stop.touch()
    assert second.stdout.readline().strip() == 'left'
    second.communicate('\n', timeout=60)
    # A third waits until the first exits, then is active.
    stop.unlink()
    third = _holder(directory, output_dir, stop)
    assert 'waiting for one of them to finish' in third.stdout.readline()
    mine.close()
    assert third.stdout.readline().strip() == 'active'
    with local_aligners.LocalAligners(str(tmp_path / 'elsewhere'), directory) as other:
        assert other.ahead_of_me() == 0  # another folder: never queued behind it
        assert other.count_active() == 2  # but it shares the cores with it
        third.communicate('\n', timeout=60)
        # A killed aligner's entry is forgotten: its lock went with it.
        killed = _holder(directory, output_dir, stop)
        assert killed.stdout.readline().strip() == 'active'
        killed.kill()
        killed.wait(timeout=60)
        assert other.count_active() == 1 and other.others() == []
    assert os.listdir(directory) == []


def test_claims_are_exclusive_and_done_is_final(tmp_path):
    store = claims.ImageClaims(str(tmp_path))
    assert store.is_free('person', 'image')  # never claimed
    first = store.claim('person', 'image')
    assert first is not None and store.claim('person', 'image') is None
    assert not store.is_free('person', 'image')  # held
    first.finish('1 faces')
    assert store.is_done('person', 'image') and store.claim('person', 'image') is None
    assert not store.is_free('person', 'image')  # done
    other = store.claim('person', 'other')
    other.release()
    assert store.is_free('person', 'other')  # let go: free again, and the probe wrote nothing
    again = store.claim('person', 'other')
    assert again is not None and again.stale
    again.finish('0 faces')


def test_a_claim_is_not_lost_to_a_probe(tmp_path):
    """is_free (another process's reader or waiting aligner) holds the claim file's lock
    for an instant: a claim meeting it tries again; a real holder keeps the image."""
    store = claims.ImageClaims(str(tmp_path))
    store.claim('person', 'image').release()  # the claim file exists
    probe = os.open(store.claim_path('person', 'image'), os.O_RDONLY)
    assert claims.try_lock(probe)
    threading.Timer(0.0005, os.close, [probe]).start()  # lets go after half a millisecond
    claim = store.claim('person', 'image')
    assert claim is not None
    started = time.time()
    assert store.claim('person', 'image') is None  # held by a real holder
    assert time.time() - started < 0.5
    claim.finish('1 faces')


def test_work_left_is_an_image_neither_done_nor_held(tmp_path):
    work = [('person', 'in/a.jpg', 'a'), ('person', 'in/b.jpg', 'b')]
    store = claims.ImageClaims(str(tmp_path))
    assert dataset_aligner.work_left(work, str(tmp_path), False)
    store.claim('person', 'a').finish('1 faces')
    held = store.claim('person', 'b')
    assert not dataset_aligner.work_left(work, str(tmp_path), False)  # done, and held
    wanted = dataset_aligner.still_to_do(str(tmp_path), False)  # what a reader reads
    assert not wanted(work[0]) and not wanted(work[1])
    unprobed = dataset_aligner.still_to_do(str(tmp_path), False)
    with mock.patch.object(claims.ImageClaims, 'is_free', side_effect=OSError(9, 'EBADF')):
        assert unprobed(work[1])  # a lock that cannot be probed (NFS): read, the claim decides
    held.release()
    assert dataset_aligner.work_left(work, str(tmp_path), False)
    os.makedirs(tmp_path / 'other')
    (tmp_path / 'other' / 'c.png').write_bytes(b'a classic run wrote it')
    assert not dataset_aligner.work_left([('other', 'in/c.jpg', 'c')], str(tmp_path), False)


def test_remove_partial_outputs_touches_only_that_image(tmp_path):
    names = ['.img.abcd1234.tmp.png', '.img_1.x_y_z123.tmp.png', '.img10.abcd1234.tmp.png',
             'img.png', '.other.abcd1234.tmp.png']
    for name in names:
        (tmp_path / name).write_bytes(b'x')
    assert claims.remove_partial_outputs(str(tmp_path), 'img') == 2
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:])
