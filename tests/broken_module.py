"""A user's module that fails while being imported: loading a task from it must be a one-line error."""

raise RuntimeError("this module cannot be imported\non purpose")
