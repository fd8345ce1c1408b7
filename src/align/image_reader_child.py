"""The child process of ``align.image_reader_process`` (the aligner starts it; users do not):
reads the image files the aligner asks for on its standard input and answers with their
pixels and P-Net pyramids on its standard output.

    python src/align/image_reader_child.py MINSIZE FACTOR AHEAD_BYTES
"""
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import argparse  # noqa: E402


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description='Read images for align_dataset_mtcnn.py in a child process (started by it).')
    parser.add_argument('minsize', type=float, help='Smallest face of the pyramid, pixels.')
    parser.add_argument('factor', type=float, help='Pyramid scale step.')
    parser.add_argument('ahead_bytes', type=int,
                        help='Pixels to answer ahead of what the aligner took.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    arguments = parse_arguments(sys.argv[1:])
    from align import image_reader_process
    sys.exit(image_reader_process.main(arguments.minsize, arguments.factor,
                                       arguments.ahead_bytes))
