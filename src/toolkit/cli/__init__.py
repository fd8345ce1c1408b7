"""Running a script's main(): one-line errors and exit codes instead of tracebacks."""
import sys

from toolkit.errors import FacenetError
from toolkit.modelfiles import metadata


def run(main, parse_arguments, argv=None):
    """Call ``main(parse_arguments(argv))`` and exit with a clear status.

    A FacenetError prints ``error: <message>`` on stderr and exits with 1; Ctrl-C exits
    with 130. Anything else is a bug and keeps its traceback.
    """
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        status = main(args)
    except FacenetError as error:
        print('error: %s' % error, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)


def warn(line):
    """Print a warning line (``warning: ...``) on stderr."""
    print(line, file=sys.stderr, flush=True)


def resolve_standardization(args, model):
    """Set ``args.use_fixed_image_standardization`` (None when the flag was not given) to
    the input standardization ``model`` needs: the flag, else the model's metadata file,
    else prewhitening; a flag contradicting the metadata is warned about on stderr.
    Returns the value."""
    args.use_fixed_image_standardization = metadata.fixed_standardization(
        model, args.use_fixed_image_standardization, warn)
    return args.use_fixed_image_standardization
