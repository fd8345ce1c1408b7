"""The aligner on awkward input folders: nothing to align, shared base names, links, odd
names, and a process killed between its bounding-box line and its done marker."""
import glob
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT, shared_path
from align import align_dataset_mtcnn, claims, dataset_aligner
from toolkit import cli


def _face_jpg():
    return os.path.join(shared_path('data', 'lfw', 'images_deepfunneled'), 'Abdullah_Gul',
                        'Abdullah_Gul_0001.jpg')


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.run(align_dataset_mtcnn.main, align_dataset_mtcnn.parse_arguments,
                [str(a) for a in argv])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    return captured.out


def _box_lines(output_dir):
    lines = []
    for path in glob.glob(os.path.join(str(output_dir), 'bounding_boxes_*.txt')):
        with open(path, encoding='utf-8', errors='surrogateescape', newline='') as handle:
            lines.extend(handle.read().splitlines(keepends=True))
    return lines


def test_no_images_is_an_error_and_writes_nothing(tmp_path, capsys):
    (tmp_path / 'raw' / 'person').mkdir(parents=True)
    (tmp_path / 'raw' / 'person' / 'notes.txt').write_text('no image')
    os.symlink('loop.jpg', str(tmp_path / 'raw' / 'person' / 'loop.jpg'))
    with pytest.raises(SystemExit) as exit_info:
        cli.run(align_dataset_mtcnn.main, align_dataset_mtcnn.parse_arguments,
                [str(tmp_path / 'raw'), str(tmp_path / 'out')])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "loop.jpg': skipped: symbolic link loop" in captured.out
    assert captured.err == 'error: no images found in %s (expected one sub-folder of images per ' \
                           'class), 1 entries skipped\n' % (tmp_path / 'raw')
    assert not (tmp_path / 'out').exists()  # no folder, no bounding-box file


def test_negative_margin_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        align_dataset_mtcnn.parse_arguments(['in', 'out', '--margin', '-8'])
    assert exit_info.value.code == 2
    assert 'must be zero or a positive integer, got -8' in capsys.readouterr().err


def test_output_names_are_unique_and_stable():
    paths = ['c/dup.jpg', 'c/dup.png', 'c/dup_jpg.gif', 'c/a\nb.jpg', 'c/solo.jpg']
    names = dataset_aligner.output_names(paths)
    assert names == {'c/dup.jpg': 'dup_jpg_2', 'c/dup.png': 'dup_png', 'c/dup_jpg.gif': 'dup_jpg',
                     'c/a\nb.jpg': 'a_b', 'c/solo.jpg': 'solo'}
    assert dataset_aligner.output_names(list(reversed(paths))) == names


def test_shared_base_names_links_and_odd_names_each_get_an_output(tmp_path, capsys):
    person = tmp_path / 'raw' / 'person'
    person.mkdir(parents=True)
    shutil.copy(_face_jpg(), str(person / 'dup.jpg'))
    Image.open(_face_jpg()).save(str(person / 'dup.png'))
    shutil.copy(_face_jpg(), str(person / 'line\nbreak.jpg'))
    undecodable = os.fsdecode(b'caf\xe9.jpg')  # not UTF-8: Latin-1 bytes
    shutil.copy(_face_jpg(), os.path.join(str(person), undecodable))
    os.symlink('loop.jpg', str(person / 'loop.jpg'))
    os.symlink('missing.jpg', str(person / 'dangling.jpg'))
    (tmp_path / 'raw' / 'odd\nclass').mkdir()
    shutil.copy(_face_jpg(), str(tmp_path / 'raw' / 'odd\nclass' / 'x.jpg'))
    output_dir = tmp_path / 'aligned'
    out = _run(capsys, tmp_path / 'raw', output_dir, '--image_size', '64', '--margin', '0')
    assert "loop.jpg': skipped: symbolic link loop" in out
    assert "dangling.jpg': skipped: broken symbolic link" in out
    assert "'odd\\nclass': class folder skipped" in out
    assert "dup.jpg': written as dup_jpg.png" in out and "dup.png': written as dup_png.png" in out
    assert "break.jpg': written as line_break.png" in out
    assert 'Total number of images: 4' in out and 'Number of successfully aligned images: 4' in out
    assert 'Images written under a new name: 3' in out and 'Entries skipped' in out
    written = sorted(os.listdir(os.fsencode(str(output_dir / 'person'))))
    assert written == sorted([b'caf\xe9.png', b'dup_jpg.png', b'dup_png.png', b'line_break.png'])
    lines = _box_lines(output_dir)
    assert len(lines) == 4 and all(len(line.split()) == 5 for line in lines)
    png = os.path.join(str(output_dir), 'person', os.fsdecode(b'caf\xe9.png'))
    assert any(line.startswith(png + ' ') for line in lines)


KILLED_APPENDER = '''
import os, sys
sys.path.insert(0, sys.argv[1])
from align import claims  # light: no TensorFlow in this process
output_dir, png, mode = sys.argv[2], sys.argv[3], sys.argv[4]
claim = claims.ImageClaims(output_dir).claim('person', 'face')
os.makedirs(os.path.join(output_dir, 'person'), exist_ok=True)
with open(png, 'rb') as source, open(os.path.join(output_dir, 'person', 'face.png'), 'wb') as out:
    out.write(source.read())
boxes = open(os.path.join(output_dir, 'bounding_boxes_00001.txt'), 'x')
line = os.path.join(output_dir, 'person', 'face.png') + ' 1 2 3 4\\n'
boxes.write('other/earlier.png\\n')
boxes.flush()
claim.record_pending(os.path.basename(boxes.name), os.lseek(boxes.fileno(), 0, os.SEEK_CUR),
                     line.encode())
boxes.write(line if mode == 'whole' else line[:7])
boxes.flush()
os._exit(9)   # killed after the append, before the done marker
'''


@pytest.mark.parametrize('mode', ['whole', 'half'])
def test_a_line_written_before_a_kill_is_not_written_again(tmp_path, capsys, mode):
    (tmp_path / 'raw' / 'person').mkdir(parents=True)
    shutil.copy(_face_jpg(), str(tmp_path / 'raw' / 'person' / 'face.jpg'))
    output_dir = tmp_path / 'aligned'
    png = tmp_path / 'face.png'
    Image.open(_face_jpg()).resize((64, 64)).save(str(png))
    killed = subprocess.run([sys.executable, '-c', KILLED_APPENDER, os.path.join(ROOT, 'src'),
                             str(output_dir), str(png), mode], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    out = _run(capsys, tmp_path / 'raw', output_dir, '--image_size', '64')
    lines = _box_lines(output_dir)
    face_lines = [line for line in lines if 'face.png' in line]
    assert len(face_lines) == 1 and face_lines[0].endswith('\n')
    assert 'other/earlier.png\n' in lines and len(lines) == 2  # the half line was cut off
    if mode == 'whole':
        assert 'Images aligned earlier or by another process: 1' in out
        assert face_lines[0].endswith(' 1 2 3 4\n')  # the killed run's line, kept
    else:
        assert 'Number of successfully aligned images: 1' in out
    assert claims.ImageClaims(str(output_dir)).is_done('person', 'face')
