"""One function per pipeline stage; ``pipeline/<stage>.py`` only parses args and calls it."""
