"""align.image_reader_process: images and pyramids read in a child process are the ones read
in the aligner's own process, errors come back as they would be raised, the child reads ahead
only by its byte budget, and it exits when its parent closes it or dies."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from align import dataset_aligner, detect_face, image_reader_process
from toolkit.errors import FacenetError


def _pyramid(image):
    return detect_face.pyramid_levels(image, 20, 0.709)


def _images(tmp_path):
    rng = np.random.RandomState(0)
    paths = []
    for i, shape in enumerate([(250, 250, 3), (31, 40, 3), (60, 45), (9, 9, 3)]):
        path = str(tmp_path / ('%d.png' % i))
        Image.fromarray(rng.randint(0, 256, shape).astype(np.uint8)).save(path)
        paths.append(path)
    # Too large for a pyramid made ahead (dataset_aligner.PYRAMID_AHEAD_PIXELS).
    Image.new('RGB', (1000, 1100), (9, 8, 7)).save(str(tmp_path / 'large.png'))
    (tmp_path / 'not_an_image.jpg').write_text('text')
    return paths + [str(tmp_path / 'large.png'), str(tmp_path / 'not_an_image.jpg'),
                    str(tmp_path / 'missing.jpg')]


def _read_here(path):
    try:
        return dataset_aligner.read_image_and_pyramid(path, _pyramid)
    except FacenetError as error:
        return error


def test_the_child_reads_what_this_process_reads_and_raises_the_same_errors(tmp_path):
    paths = _images(tmp_path)
    # A budget of one byte: the child answers one image, then waits until it is taken.
    process = image_reader_process.ReaderProcess(20, 0.709, ahead_bytes=1)
    try:
        futures = [process.submit(path) for path in paths]
        for path, future in zip(paths, futures):
            expected = _read_here(path)
            future.add_done_callback(process.taken)
            if isinstance(expected, FacenetError):
                with pytest.raises(FacenetError) as raised:
                    future.result(timeout=60)
                assert str(raised.value) == str(expected)
            else:
                image, levels = future.result(timeout=60)
                np.testing.assert_array_equal(image, expected[0])
                if expected[1] is None:
                    assert levels is None and image.shape == (1100, 1000, 3)
                    continue
                assert levels.keys() == expected[1].keys()
                for size, level in levels.items():
                    np.testing.assert_array_equal(level, expected[1][size])
    finally:
        process.close()
    assert process._process.returncode == 0
    # Once the child is gone, a request gives None: the caller reads the image itself.
    assert process.submit(paths[0]).result(timeout=1) is None


def test_image_reader_with_the_child_gives_what_its_threads_give(tmp_path):
    paths = _images(tmp_path)[:4] * 5
    work = [('c', path, str(i)) for i, path in enumerate(paths)]
    results = []
    for process in (None, image_reader_process.start(20, 0.709, ahead_bytes=100000)):
        with dataset_aligner.ImageReader(work, _pyramid, nrof_threads=2,
                                         process=process) as reader:
            results.append([read.result(timeout=60) for _, read in reader])
    for (image, levels), (expected_image, expected_levels) in zip(*results):
        np.testing.assert_array_equal(image, expected_image)
        assert levels.keys() == expected_levels.keys()


KILLED_PARENT = r'''
import os, sys
sys.path.insert(0, sys.argv[1])
from align import image_reader_process
process = image_reader_process.ReaderProcess(20, 0.709, 1000)
print(process._process.pid, flush=True)
os.kill(os.getpid(), 9)
'''


def test_the_child_exits_when_its_parent_is_killed():
    parent = subprocess.run([sys.executable, '-c', KILLED_PARENT, os.path.join(ROOT, 'src')],
                            capture_output=True, text=True, timeout=120)
    assert parent.returncode == -signal.SIGKILL
    child = int(parent.stdout.split()[0])
    deadline = time.time() + 30
    while time.time() < deadline and os.path.exists('/proc/%d' % child):
        with open('/proc/%d/stat' % child) as handle:
            if handle.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break  # exited, waiting to be reaped by init
        time.sleep(0.1)
    else:
        assert not os.path.exists('/proc/%d' % child), 'the reader process outlived its parent'


def test_an_answer_passed_on_before_it_came_does_not_count_against_the_budget():
    """The aligner passes an image on as soon as it is next, often before the child has
    answered it: that answer must not hold the child's read-ahead budget."""
    budget = image_reader_process._Budget(100)
    budget.taken()  # the first answer, passed on before it came
    budget.answered(80)
    budget.answered(90)  # the second, not yet passed on: 90 bytes outstanding
    finished = threading.Event()
    waiter = threading.Thread(target=lambda: (budget.wait_for_room(), finished.set()))
    waiter.start()
    assert finished.wait(5)  # 90 < 100: room for one more
    budget.answered(20)  # 110 outstanding: no room until the second is passed on
    finished.clear()
    waiter = threading.Thread(target=lambda: (budget.wait_for_room(), finished.set()))
    waiter.start()
    assert not finished.wait(0.3)
    budget.taken()
    assert finished.wait(5)
    waiter.join()
