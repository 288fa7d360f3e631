"""What a route of the lab's agent raises for input it cannot take."""


class BadRequest(ValueError):
    """A parameter the route cannot take; its message is the 400's, safe to show."""
