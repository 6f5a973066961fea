"""Exception types shared by the sleuth modules."""


class SleuthError(Exception):
    """Base class of the errors sleuth reports to the user as one line."""

    exit_status = 1


class QueryError(SleuthError):
    """A --where, --select, --groupby or --sum argument could not be parsed.

    ``text`` is the whole argument, ``pos`` the 0-based index of the character
    where parsing failed; ``str(err)`` gives one line that names the option,
    repeats the argument and points at the column.
    """

    exit_status = 2

    def __init__(self, message, text="", pos=0, option="--where"):
        self.message = message
        self.text = text
        self.pos = pos
        self.option = option
        super().__init__(self.__str__())

    def __str__(self):
        column = self.pos + 1
        if self.pos >= len(self.text):
            where = "at the end"
        else:
            where = "at column %d (%r)" % (column, self.text[self.pos:self.pos + 12])
        return "%s %r: %s %s" % (self.option, self.text, self.message, where)


class UsageError(SleuthError):
    """A bad combination of options or a bad option value (exit status 2)."""

    exit_status = 2


class DataFileError(SleuthError):
    """A policy or fingerprint database file is missing or malformed."""

    exit_status = 2
