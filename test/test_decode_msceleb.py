"""decode_msceleb_dataset.py on a generated MS-Celeb-1M TSV file."""
import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

import decode_msceleb_dataset
from toolkit import cli
from toolkit.data.folders import get_dataset, read_rgb_image
from toolkit.data.msceleb import parse_record
from toolkit.errors import FacenetError


def _jpeg_base64(color, size=(24, 20)):
    buffer = io.BytesIO()
    Image.new('RGB', size, color).save(buffer, format='JPEG', quality=98)
    return base64.b64encode(buffer.getvalue()).decode('ascii')


def _tsv_line(mid, rank, face_id, data):
    rectangle = base64.b64encode(b'\x00' * 16).decode('ascii')
    return '\t'.join([mid, str(rank), 'http://img/%d.jpg' % rank, 'http://page/%d' % rank,
                      face_id, rectangle, data]) + '\n'


@pytest.fixture
def tsv_file(tmp_path):
    lines = [_tsv_line('m.01abc', 1, 'FaceId-0', _jpeg_base64((200, 30, 30))),
             _tsv_line('m.01abc', 2, 'FaceId-1', _jpeg_base64((30, 200, 30))),
             _tsv_line('m.02xyz', 1, 'FaceId-0', _jpeg_base64((30, 30, 200))),
             'm.03bad\t1\tonly three columns\n',
             _tsv_line('m.04bad', 1, 'FaceId-0', 'bm90IGFuIGltYWdl'),  # "not an image"
             _tsv_line('../evil', 1, 'FaceId-0', _jpeg_base64((0, 0, 0)))]
    path = tmp_path / 'faces.tsv'
    path.write_text(''.join(lines))
    return str(path)


def test_decode_writes_class_folders(tmp_path, tsv_file, capsys):
    output_dir = str(tmp_path / 'out')
    args = decode_msceleb_dataset.parse_arguments([output_dir, tsv_file])
    assert decode_msceleb_dataset.main(args) == 0
    dataset = get_dataset(output_dir)
    assert [c.name for c in dataset] == ['m.01abc', 'm.02xyz']
    assert [os.path.basename(p) for p in dataset[0].image_paths] == ['1-FaceId-0.png',
                                                                     '2-FaceId-1.png']
    red = read_rgb_image(dataset[0].image_paths[0])
    assert red.shape == (20, 24, 3)
    assert np.abs(red.mean(axis=(0, 1)) - [200, 30, 30]).max() < 4
    blue = read_rgb_image(dataset[1].image_paths[0])
    assert np.argmax(blue.mean(axis=(0, 1))) == 2
    assert os.path.isfile(os.path.join(output_dir, 'revision_info.txt'))
    captured = capsys.readouterr()
    assert 'Decoded 3 images' in captured.out and '3 lines skipped' in captured.out
    assert 'faces.tsv:4 skipped: expected 7 tab-separated columns, found 3' in captured.err
    assert 'faces.tsv:5 skipped: FaceData is not a readable image' in captured.err
    assert 'faces.tsv:6 skipped: column FreebaseMID' in captured.err
    assert not os.path.exists(os.path.join(str(tmp_path), 'evil'))


def test_decode_resizes_and_writes_jpg(tmp_path, tsv_file):
    output_dir = str(tmp_path / 'out')
    args = decode_msceleb_dataset.parse_arguments(
        [output_dir, tsv_file, '--size', '16', '--output_format', 'jpg'])
    decode_msceleb_dataset.main(args)
    image = read_rgb_image(os.path.join(output_dir, 'm.02xyz', '1-FaceId-0.jpg'))
    assert image.shape == (16, 16, 3)
    assert np.abs(image.mean(axis=(0, 1)) - [30, 30, 200]).max() < 6


def test_parse_record_rejects_bad_base64():
    with pytest.raises(FacenetError, match='not valid base64'):
        parse_record(_tsv_line('m.1', 1, 'FaceId-0', 'abc$%'))


def test_missing_tsv_file_is_a_one_line_error(tmp_path, capsys):
    argv = [str(tmp_path / 'out'), str(tmp_path / 'missing.tsv')]
    with pytest.raises(SystemExit) as exit_info:
        cli.run(decode_msceleb_dataset.main, decode_msceleb_dataset.parse_arguments, argv)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == 'error: TSV file not found: %s' % argv[1]
    assert not os.path.exists(argv[0])


def test_file_without_any_face_fails(tmp_path):
    path = tmp_path / 'empty.tsv'
    path.write_text('garbage line\n')
    args = decode_msceleb_dataset.parse_arguments([str(tmp_path / 'out'), str(path)])
    with pytest.raises(FacenetError, match='no image could be decoded'):
        decode_msceleb_dataset.main(args)
