"""Running a script's main(): one-line errors and exit codes instead of tracebacks."""
import sys

from toolkit.errors import FacenetError


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
