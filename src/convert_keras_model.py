"""Convert a Keras ``facenet_keras.h5`` (Inception-ResNet-v1) into a classic model folder.

    python src/convert_keras_model.py facenet_keras.h5 ~/models/facenet/my-model

The folder gets ``model-<name>.meta``, ``model-<name>.ckpt-<step>`` files, a ``checkpoint``
state file and a frozen ``<name>.pb``, with the classic variable names, so every script
(and the classic toolkit) can load it, and ``facenet_model.json`` (``--input_standardization``
and the embedding size), from which the scripts take their input standardization.
"""
import argparse
import os

from models import inception_resnet_v1
from toolkit import cli
from toolkit.fileio import require_file
from toolkit.modelfiles import pretrained


def main(args):
    require_file(args.keras_file, 'Keras model file')
    name = args.model_name or os.path.basename(os.path.normpath(args.output_dir))
    pretrained.convert_keras_model(args.keras_file, args.output_dir, name, inception_resnet_v1,
                                   args.input_standardization, step=args.step)
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
    parser.add_argument('--input_standardization', choices=['prewhiten', 'fixed'],
                        default='prewhiten',
                        help='How the model was trained to see its input, recorded in the '
                             'folder\'s facenet_model.json: per-image prewhitening (the '
                             'facenet_keras.h5 of 20170512-110547) or fixed standardization.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
