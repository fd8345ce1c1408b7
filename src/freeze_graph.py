"""Freeze a checkpoint (classic or ours) into a GraphDef .pb holding the weights as constants.

    python src/freeze_graph.py ~/models/facenet/20170512-110547 20170512-110547.pb

The .pb holds ``input``, ``embeddings``, ``phase_train``, ``label_batch``, ``image_batch`` and
``batch_size`` and loads with ``facenet.load_model`` or plain ``tf.import_graph_def``.
The network is rebuilt from code for inference and its variables restored by name, so
classic ``.meta`` files this TensorFlow cannot import freeze as well.
"""
import argparse

import models
from toolkit import cli, fileio
from toolkit.cli import arguments
from toolkit.modelfiles import writing


def main(args):
    fileio.check_writable(args.output_file, 'output file')
    nrof_nodes = writing.freeze_checkpoint(args.model_dir, args.output_file,
                                           models.import_network, args.image_size)
    print('%d ops in the final graph: %s' % (nrof_nodes, args.output_file))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[arguments.image_size_args(160)])
    parser.add_argument('model_dir', type=str,
                        help='Directory containing the metagraph (.meta) file and the checkpoint '
                             '(ckpt) file containing model parameters')
    parser.add_argument('output_file', type=str,
                        help='Filename for the exported graphdef protobuf (.pb)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
