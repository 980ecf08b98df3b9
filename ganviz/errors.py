"""Errors a user can cause. Each message is one line: what was wrong and what is accepted.
The CLI prints it and exits 2; the dashboard shows it on the page and keeps what it had."""


class UserError(ValueError):
    """Bad input from outside: a file, a spec string, a setting, an upload."""

    def __str__(self) -> str:  # one line, whatever a library put in the message
        return " ".join(super().__str__().split())


class DataError(UserError):
    """Training images that cannot be loaded."""


class BundleError(UserError):
    """A folder or zip that is not a valid ganviz bundle."""


class Diverged(RuntimeError):
    """Training losses or weights went NaN/inf: the run stops and keeps its last good state.
    Not bad input as such (too high a learning rate is the usual cause), so the CLI exits 1."""
