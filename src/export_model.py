"""Export a face model for deployment: SavedModel (TF Serving), ONNX or TFLite.

    python src/export_model.py ~/models/20180408-102900 ~/serving/facenet/1 \\
        --use_fixed_image_standardization --detector
    python src/export_model.py ~/models/20170512-110547 facenet.onnx
    python src/export_model.py ~/models/20170512-110547 facenet.tflite --quantize dynamic

The exported model takes ``images`` (uint8 RGB aligned faces, N x image_size x image_size x 3)
and returns L2-normalized ``embeddings``; the input standardization is inside it. The format
follows the output's extension (.onnx, .tflite, else a SavedModel directory) unless --format
says otherwise. Each export is run in its runtime and compared with the frozen graph.
"""
import argparse
import sys

import models
from toolkit import cli
from toolkit.cli import arguments
from toolkit.modelfiles import export, exported, servable

# Largest difference a float export may show against the frozen graph on the check images,
# and the smallest cosine similarity a quantized one may.
FLOAT_TOLERANCE = 1e-4
QUANTIZED_MIN_COSINE = 0.99


def main(args):
    cli.resolve_standardization(args, args.model)  # baked into the exported graph
    export_format = export.output_format(args.output, args.format)
    export.check_options(args.output, export_format, args.quantize, args.detector, args.force)
    network = servable.load_network(args.model, args.image_size,
                                    networks=models.import_network)
    print('Network: %d-d embeddings of %dx%d faces, %s input' % (
        network.embedding_size, args.image_size, args.image_size,
        'standardized float32' if args.float_input else 'uint8 RGB'))
    detector = None
    if args.detector:
        from align import graph_detector
        detector = graph_detector.face_detector(args.margin, args.image_size)
    export.export(network, args.output, export_format, args.use_fixed_image_standardization,
                  args.float_input, args.quantize, detector)
    check = exported.check_export(network, args.output, export_format,
                                  args.use_fixed_image_standardization, args.float_input)
    print('Checked against the frozen graph: largest difference %.2e, smallest cosine %.6f'
          % (check.max_abs_difference, check.min_cosine))
    if args.quantize:
        if check.min_cosine < QUANTIZED_MIN_COSINE:
            print('warning: the quantized model departs from the frozen graph (cosine below '
                  '%.2f)' % QUANTIZED_MIN_COSINE, file=sys.stderr)
    elif check.max_abs_difference > FLOAT_TOLERANCE:
        print('warning: the export departs from the frozen graph by more than %g'
              % FLOAT_TOLERANCE, file=sys.stderr)
    print('Exported %s (%s, %.1f MB)' % (args.output, export_format,
                                         export.export_size(args.output) / 1e6))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[arguments.image_size_args(160), arguments.margin_args(32),
                 arguments.standardization_args()])
    arguments.add_model_argument(parser)
    parser.add_argument('output', type=str,
                        help='Output: a SavedModel directory, a .onnx or a .tflite file')
    parser.add_argument('--format', choices=export.FORMATS, default=None,
                        help='Export format (default: from the output\'s extension)')
    parser.add_argument('--quantize', choices=export.QUANTIZE_MODES, default=None,
                        help='TFLite only: int8 weights (dynamic) or float16 weights')
    parser.add_argument('--detector', action='store_true',
                        help='SavedModel only: add the detect_and_embed signature (MTCNN, '
                             'the classic crop with --margin, and the embedding network)')
    parser.add_argument('--float_input', action='store_true',
                        help='Take the standardized float32 input instead of uint8 faces')
    parser.add_argument('--force', action='store_true', help='Replace an existing output')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
