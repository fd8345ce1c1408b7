"""The one exception type for problems a user can cause and fix."""


class FacenetError(Exception):
    """A bad input (path, file, flag value) described in one line for the user."""


class OutputError(FacenetError):
    """An output that cannot be written (no space left, no permission, a file in the way).

    Loops that skip bad input items (a damaged line, an unreadable image) let it through:
    the next item could not be written either.
    """
