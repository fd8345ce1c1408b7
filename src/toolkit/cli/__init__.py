"""Running a script's main(): one-line errors and exit codes instead of tracebacks."""
import sys

from toolkit.errors import FacenetError
from toolkit.modelfiles import metadata
from toolkit.fileio import os_error_reason


def run(main, parse_arguments, argv=None):
    """Call ``main(parse_arguments(argv))`` and exit with a clear status.

    A FacenetError prints ``error: <message>`` on stderr and exits with 1, and so does an
    OSError that no library call turned into one (a file system problem: the file it names
    and the reason); argument errors exit with 2 (argparse's convention); Ctrl-C exits with
    130. Anything else is a bug and keeps its traceback.
    """
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    # File names that are not valid UTF-8 print as escapes instead of stopping the run.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors='backslashreplace')
    try:
        status = main(args)
    except FacenetError as error:
        print('error: %s' % error, file=sys.stderr)
        sys.exit(1)
    except OSError as error:
        where = ' '.join('%s' % name for name in (error.filename, error.filename2) if name)
        print('error: %s%s' % (where + ': ' if where else '', os_error_reason(error)),
              file=sys.stderr)
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
