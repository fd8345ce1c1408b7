"""Convert a Keras ``facenet_keras.h5`` (Inception-ResNet-v1) into a classic model folder.

    python src/convert_keras_model.py facenet_keras.h5 ~/models/facenet/my-model

The folder gets ``model-<name>.meta``, ``model-<name>.ckpt-<step>`` files, a ``checkpoint``
state file and a frozen ``<name>.pb``, with the classic variable names, so every script
(and the classic toolkit) can load it.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script from anywhere

from toolkit import cli  # noqa: E402
from toolkit.fileio import require_file  # noqa: E402
from toolkit.modelfiles import pretrained  # noqa: E402


def main(args):
    require_file(args.keras_file, 'Keras model file')
    name = args.model_name or os.path.basename(os.path.normpath(args.output_dir))
    pretrained.convert_keras_model(args.keras_file, args.output_dir, name, step=args.step)
    print('Model %s written to %s' % (name, args.output_dir))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('keras_file', help='The facenet_keras.h5 file.')
    parser.add_argument('output_dir', help='Model folder to create (replaced if it exists).')
    parser.add_argument('--model_name', default=None,
                        help='Name used in the file names (default: the folder name).')
    parser.add_argument('--step', type=int, default=0, help='Step number of the checkpoint.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
