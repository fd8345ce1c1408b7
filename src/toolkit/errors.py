"""The one exception type for problems a user can cause and fix."""


class FacenetError(Exception):
    """A bad input (path, file, flag value) described in one line for the user."""
