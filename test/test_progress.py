"""toolkit.progress: the bar on a terminal, plain lines in logs, and whole-line writes."""
import io
import os
import re
import subprocess
import sys

import pytest

from conftest import SRC
from toolkit import progress
from toolkit.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_lines_in_logs_are_few_and_end_with_a_summary():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(1000, 'Forward pass', stream=stream, clock=clock, line_interval=30) as bar:
        assert not bar.interactive  # a StringIO is no terminal
        for done in range(10, 1001, 10):  # 100 batches, one every 1.5 s: 150 s in all
            clock.now += 1.5
            bar(done, 1000)
    lines = stream.getvalue().splitlines()
    assert '\r' not in stream.getvalue()
    # A line every 30 s of the 150 s (the last one is the summary), not one per batch.
    assert len(lines) == 5
    assert lines[0] == 'Forward pass: 200/1000 images (20%), 6.7 images/s, 2:00 left'
    assert lines[1] == 'Forward pass: 400/1000 images (40%), 6.7 images/s, 1:30 left'
    assert lines[-1] == 'Forward pass: 1000 images in 2:30 (6.7 images/s)'


def test_bar_redraws_in_place_on_a_terminal():
    stream, clock = io.StringIO(), FakeClock()
    bar = Progress(400, 'Embedding', stream=stream, interactive=True, clock=clock, width=100,
                   redraw_interval=1.0)
    for done in range(1, 401):  # 400 updates 0.25 s apart: redrawn every second
        clock.now += 0.25
        bar.update(done)
    bar.close()
    bar.close()  # idempotent
    text = stream.getvalue()
    assert text.count('\n') == 1 and text.endswith('\n')
    frames = text[:-1].split('\r')[1:]
    assert len(frames) == 100 + 1  # throttled: once a second, not 400 times; and at close
    assert all(len(frame) < 100 for frame in frames)  # never wraps
    middle = frames[len(frames) // 2].rstrip()
    match = re.match(r'Embedding \[(#*)(\.*)\] (\d+)/400 images \((\d+)%\), 4\.0 images/s, '
                     r'(\d):(\d\d) left$', middle)
    assert match, middle
    filled, empty, done = len(match.group(1)), len(match.group(2)), int(match.group(3))
    assert filled + empty == progress.BAR_WIDTH
    assert abs(filled - progress.BAR_WIDTH * done / 400) <= 1
    assert 60 * int(match.group(5)) + int(match.group(6)) == round((400 - done) / 4.0)
    assert frames[-1].rstrip() == ('Embedding [%s] 400/400 images (100%%), 4.0 images/s, '
                                   'done in 1:40' % ('#' * progress.BAR_WIDTH))


def test_bar_is_chosen_for_a_real_terminal_and_lines_otherwise(tmp_path):
    master, slave = os.openpty()
    try:
        with open(slave, 'w', closefd=False) as terminal:
            assert Progress(10, 'x', stream=terminal).interactive
    finally:
        os.close(master)
        os.close(slave)
    with open(tmp_path / 'log.txt', 'w') as log:
        assert not Progress(10, 'x', stream=log).interactive


def test_narrow_terminal_and_empty_loop():
    stream = io.StringIO()
    with Progress(5, 'A rather long label', stream=stream, interactive=True, width=40) as bar:
        bar.update(5)
    assert all(len(frame) < 40 for frame in stream.getvalue().strip().split('\r'))
    quiet = io.StringIO()
    with Progress(0, 'Nothing', stream=quiet):
        pass
    assert quiet.getvalue() == ''


def test_a_failed_loop_prints_no_summary():
    for interactive in (False, True):
        stream = io.StringIO()
        with pytest.raises(ValueError):
            with Progress(10, 'Encoding', stream=stream, interactive=interactive,
                          redraw_interval=0) as bar:
                bar.update(3)
                raise ValueError('unreadable image')
        text = stream.getvalue()
        if interactive:  # the bar's line is ended, so that the error message has its own
            assert text.startswith('\rEncoding [') and 'done in' not in text
            assert text.endswith('\n') and text.count('\n') == 1
        else:  # in logs: no summary line claiming the loop finished
            assert text == ''


def test_duration_format():
    assert progress.format_duration(0) == '0:00'
    assert progress.format_duration(59.6) == '1:00'
    assert progress.format_duration(3725) == '1:02:05'


# Each process writes numbered lines of varied length (up to ~900 bytes) to one shared pipe.
WRITER = '''
import sys
sys.path.insert(0, sys.argv[1])
from toolkit.progress import write_line
writer = int(sys.argv[2])
for number in range(1500):
    write_line('writer %d line %d %s end' % (writer, number, 'x' * (number * 37 % 900)))
'''
LINE = re.compile(r'^writer (\d) line (\d+) (x*) end$')


def test_lines_of_concurrent_processes_sharing_a_pipe_stay_whole():
    read_end, write_end = os.pipe()
    writers = [subprocess.Popen([sys.executable, '-c', WRITER, SRC, str(index)],
                                stdout=write_end) for index in range(4)]
    os.close(write_end)
    with open(read_end, 'r') as pipe:
        lines = pipe.read().splitlines()
    assert [writer.wait(timeout=60) for writer in writers] == [0] * 4
    seen = set()
    for line in lines:
        match = LINE.match(line)
        assert match, 'a line ran into another: %r' % line[:120]
        number = int(match.group(2))
        assert len(match.group(3)) == number * 37 % 900
        seen.add((int(match.group(1)), number))
    assert len(lines) == len(seen) == 4 * 1500


def test_aligner_writes_each_line_whole(tmp_path, monkeypatch):
    """align_dataset_mtcnn's lines (per-image messages and totals) go out one write each."""
    from align import align_dataset_mtcnn

    class RecordingStream(io.StringIO):
        writes = []

        def write(self, text):
            self.writes.append(text)
            return super().write(text)

        def flush(self):
            self.writes.append(None)  # None marks a flush

    stream = RecordingStream()
    monkeypatch.setattr(sys, 'stdout', stream)
    input_dir = tmp_path / 'raw' / 'person'
    os.makedirs(input_dir)
    (input_dir / 'broken.jpg').write_bytes(b'not a jpeg')
    from PIL import Image
    Image.new('RGB', (8, 8)).save(input_dir / 'tiny.png')
    args = align_dataset_mtcnn.parse_arguments([str(tmp_path / 'raw'), str(tmp_path / 'out')])
    assert align_dataset_mtcnn.main(args) == 0
    texts = [write for write in stream.writes if write is not None]
    assert 'Total number of images: 2\n' in texts
    assert any('broken.jpg: cannot read image' in text for text in texts)
    for index, write in enumerate(stream.writes):
        if write is not None:
            assert write.endswith('\n') and write.count('\n') == 1, repr(write)
            assert stream.writes[index + 1] is None  # flushed at once
