"""The one exception type for problems a user can cause and fix."""


class FacenetError(Exception):
    """A bad input (path, file, flag value) described in one line for the user."""


class OutputError(FacenetError):
    """An output that cannot be written (no space left, no permission, a file in the way).

    Loops that skip bad input items (a damaged line, an unreadable image) let it through:
    the next item could not be written either.
    """


def op_error_reason(error):
    """The reason of a TensorFlow op error (``error.message``), without the graph-execution
    boilerplate TensorFlow wraps it in (``Graph execution error:``, ``Detected at node``,
    the Python stack, ``Node: '...'``, ``[[{{node ...}}]]``)."""
    message = str(getattr(error, 'message', error))
    for line in message.splitlines():
        line = line.strip()
        if line and not (line.startswith(('Graph execution error', 'Detected at node', 'File "',
                                          "Node: '", '[[')) or line.endswith('(most recent '
                                                                              'call last):')):
            return line
    return message.strip()
