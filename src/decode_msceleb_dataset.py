"""Decode the MS-Celeb-1M dataset from its TSV files into one folder per identity.

Each face becomes ``<output_dir>/<Freebase MID>/<ImageSearchRank>-<FaceID>.<png|jpg>``
(see ``toolkit.data.msceleb`` for the column layout). Unlike the classic script, a damaged line
(too few columns, bad base64, an undecodable image) is reported and skipped instead of
stopping the run, images are written atomically, and files that are missing are named
before anything is decoded.
"""
import argparse
import os
import sys

from toolkit import cli
from toolkit.cli.arguments import non_negative_int
from toolkit.data.msceleb import decode_face_image, parse_record
from toolkit.errors import FacenetError, OutputError
from toolkit.fileio import NewFolders, check_writable, require_file, store_revision_info
from toolkit.plotting import save_image

PROGRESS_EVERY = 1000
JPEG_QUALITY = 95


def decode_line(line, output_dir, size, output_format):
    """Decode one TSV line and write its face image; return the written path."""
    record = parse_record(line)
    image = decode_face_image(record.image_data, size)
    path = os.path.join(output_dir, record.class_name,
                        '%s.%s' % (record.image_name, output_format))
    options = {'quality': JPEG_QUALITY} if output_format == 'jpg' else {}
    return save_image(path, image, **options)


def decode_tsv_file(tsv_file, output_dir, size, output_format, counts):
    """Decode every line of one TSV file, updating ``counts`` ('decoded', 'skipped')."""
    with open(tsv_file, 'r', encoding='utf-8', errors='replace', newline='\n') as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                decode_line(line, output_dir, size, output_format)
            except OutputError:
                raise  # the next image could not be written either
            except FacenetError as error:
                counts['skipped'] += 1
                print('warning: %s:%d skipped: %s' % (tsv_file, line_number, error),
                      file=sys.stderr)
                continue
            counts['decoded'] += 1
            if counts['decoded'] % PROGRESS_EVERY == 0:
                print('%8d images decoded' % counts['decoded'])


def main(args):
    output_dir = os.path.expanduser(args.output_dir)
    tsv_files = [os.path.expanduser(path) for path in args.tsv_files]
    for path in tsv_files:
        require_file(path, 'TSV file')
    check_writable(output_dir, 'output_dir', directory=True)
    counts = {'decoded': 0, 'skipped': 0}
    # A new output folder is removed again when the run fails before decoding anything.
    with NewFolders([output_dir], 'output_dir') as folders:
        src_path = os.path.dirname(os.path.realpath(__file__))
        store_revision_info(src_path, output_dir, ' '.join(sys.argv))
        for tsv_file in tsv_files:
            print('Decoding %s' % tsv_file)
            decode_tsv_file(tsv_file, output_dir, args.size, args.output_format, counts)
            if counts['decoded']:
                folders.keep()
        print('Decoded %d images into %s (%d lines skipped)'
              % (counts['decoded'], output_dir, counts['skipped']))
        if counts['decoded'] == 0:
            raise FacenetError('no image could be decoded from %s' % ', '.join(args.tsv_files))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('output_dir', type=str,
                        help='Output base directory for the image dataset')
    parser.add_argument('tsv_files', type=str, nargs='+', help='Input TSV file name(s)')
    parser.add_argument('--size', type=non_negative_int,
                        help='Images are resized to the given size (default or 0: keep the size)')
    parser.add_argument('--output_format', type=str, default='png', choices=['png', 'jpg'],
                        help='Format of the output images')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
