"""--select (and --groupby / --sum field lists): selection specs and projection.

A selection spec names the parts of a record to keep, in Joy's pseudo-JSON
syntax::

    spec  := item ( "," item )*
    item  := key ( "{" spec "}" | "[{" spec "}]" | "[]" | "." item )?
    key   := [A-Za-z0-9_-]+ | quoted string

``sa,da,tls{sni,scs},packets[{b}]`` keeps ``sa``, ``da``, ``sni`` and ``scs``
inside ``tls``, and the ``b`` of every element of ``packets``.  ``a.b`` is
the same as ``a{b}``; ``a[{b}]`` the same as ``a{b}`` (lists are mapped
element by element either way); ``a[]`` the same as ``a``.

A parsed spec is a *Spec*: a list of ``(key, child)`` pairs where ``child``
is None (keep the whole value) or another Spec; duplicate keys are merged
(``tls{sni},tls{scs}`` == ``tls{sni,scs}``).  ``compile_projection`` turns a
Spec into a function ``record -> new dict`` with keys in spec order; keys
missing from the record are left out, and objects or list elements that the
selection leaves empty are dropped.
"""

from .errors import QueryError

_KEY_EXTRA = "_-"


class _SpecParser:
    def __init__(self, text, option):
        self.text, self.option, self.pos, self.n = text, option, 0, len(text)

    def error(self, message):
        raise QueryError(message, self.text, self.pos, self.option)

    def skip_ws(self):
        while self.pos < self.n and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self):
        return self.text[self.pos] if self.pos < self.n else ""

    def parse(self):
        self.skip_ws()
        if self.pos >= self.n:
            self.error("empty field list")
        spec = self.parse_list()
        self.skip_ws()
        if self.pos < self.n:
            if self.peek() in "=~<>!":
                self.error("conditions belong in --where, not in a field list")
            self.error("unexpected character %r" % self.peek())
        return spec

    def parse_list(self):
        items = [self.parse_item()]
        self.skip_ws()
        while self.peek() == ",":
            self.pos += 1
            items.append(self.parse_item())
            self.skip_ws()
        return merge_specs(items)

    def expect(self, char):
        self.skip_ws()
        if self.peek() != char:
            found = self.peek()
            if not found:
                self.error("missing %r" % char)
            self.error("expected %r but found %r" % (char, found))
        self.pos += 1

    def parse_key(self):
        self.skip_ws()
        char = self.peek()
        if char in ("'", '"'):
            return self.parse_quoted()
        start = self.pos
        while self.pos < self.n and (self.text[self.pos].isalnum()
                                     or self.text[self.pos] in _KEY_EXTRA):
            self.pos += 1
        if self.pos == start:
            if char and char in "=~<>!":
                self.error("conditions belong in --where, not in a field list")
            self.error("expected a field name but found %s" % (repr(char) if char else "the end"))
        return self.text[start:self.pos]

    def parse_quoted(self):
        quote = self.peek()
        start = self.pos
        self.pos += 1
        out = []
        while self.pos < self.n:
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < self.n:
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        self.pos = start
        self.error("unterminated quoted string")

    def parse_item(self):
        """One ``key`` with an optional sub-selection; returns a one-entry Spec."""
        key = self.parse_key()
        child = None
        char = self.peek()
        if char == "{":
            self.pos += 1
            child = self.parse_list()
            self.expect("}")
        elif char == "[":
            self.pos += 1
            self.skip_ws()
            if self.peek() == "]":
                self.pos += 1
            elif self.peek() == "{":
                self.pos += 1
                child = self.parse_list()
                self.expect("}")
                self.expect("]")
            else:
                self.error("expected '[]' or '[{' after %r" % key)
        elif char == ".":
            self.pos += 1
            child = self.parse_item()
        return [(key, child)]


def merge_specs(specs):
    """Merge several Specs into one, keeping first-seen key order."""
    merged = {}
    for spec in specs:
        for key, child in spec:
            if key not in merged:
                merged[key] = child
            elif merged[key] is None or child is None:
                merged[key] = None
            else:
                merged[key] = merge_specs([merged[key], child])
    return list(merged.items())


def parse_spec(text, option="--select"):
    """Parse a selection spec (raises :class:`QueryError`)."""
    return _SpecParser(text, option).parse()


def leaf_paths(spec, prefix=()):
    """Paths of the leaves of a Spec, in order.

    ``tls{sni,scs}`` gives ``[("tls", "sni"), ("tls", "scs")]``.
    """
    out = []
    for key, child in spec:
        if child is None:
            out.append(prefix + (key,))
        else:
            out.extend(leaf_paths(child, prefix + (key,)))
    return out


def compile_projection(spec):
    """Return ``project(record) -> dict`` for a Spec (see module docstring)."""
    if all(child is None for _, child in spec):
        keys = [key for key, _ in spec]

        def project_flat(obj):
            return {key: obj[key] for key in keys if key in obj}

        return project_flat

    plan = [(key, None if child is None else _compile_value(child)) for key, child in spec]

    def project(obj):
        out = {}
        for key, sub in plan:
            if key in obj:
                if sub is None:
                    out[key] = obj[key]
                else:
                    value = sub(obj[key])
                    if value is not None:
                        out[key] = value
        return out

    return project


def _compile_value(spec):
    """Function applying a sub-selection to a value: dicts projected, lists mapped."""
    if all(child is None for _, child in spec):
        return _compile_flat_value([key for key, _ in spec])
    project = compile_projection(spec)

    def apply(value):
        if type(value) is dict:
            result = project(value)
            return result if result else None
        if type(value) is list:
            items = []
            for item in value:
                result = apply(item)
                if result is not None:
                    items.append(result)
            return items if items else None
        return None

    return apply


def _compile_flat_value(keys):
    """Fast path of :func:`_compile_value` for a flat sub-selection such as ``{b}``."""

    def apply(value):
        if type(value) is dict:
            result = {key: value[key] for key in keys if key in value}
            return result if result else None
        if type(value) is list:
            items = []
            for item in value:
                if type(item) is dict:
                    result = {key: item[key] for key in keys if key in item}
                    if result:
                        items.append(result)
                elif type(item) is list:
                    result = apply(item)
                    if result is not None:
                        items.append(result)
            return items if items else None
        return None

    return apply


def compile_normalize(spec):
    """Return ``normalize(record) -> record`` for ``--normalize``: every leaf the Spec names
    is set to null (JSON ``null``) where the record has it, through objects and lists, as
    Joy's sleuth did (``tls{sni},packets[{ipt}]``).  The record is changed in place."""
    paths = leaf_paths(spec)

    def clear(value, path):
        if type(value) is list:
            for item in value:
                clear(item, path)
            return
        if type(value) is not dict or path[0] not in value:
            return
        if len(path) == 1:
            value[path[0]] = None
        else:
            clear(value[path[0]], path[1:])

    def normalize(record):
        for path in paths:
            clear(record, path)
        return record

    return normalize
