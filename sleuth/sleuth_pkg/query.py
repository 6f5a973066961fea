"""The --where query language: a hand-written parser and a closure compiler.

Nothing here evaluates user text as code.  ``compile_where(text)`` parses the
query into a small syntax tree and turns the tree into nested Python closures
once; the pipeline then calls the resulting ``predicate(record) -> bool`` for
every record.

Grammar (``,`` is AND and binds *less* tightly than ``|``, which is OR, as in
Joy's sleuth; parentheses group)::

    query     := and_expr
    and_expr  := or_expr  ( "," or_expr )*
    or_expr   := unary    ( "|" unary )*
    unary     := "!" unary | "(" and_expr ")" | condition
    condition := path op value
               | path "{" and_expr "}"            scoped: some element satisfies it
               | path "[{" and_expr "}]"
    path      := key ( "." key | "[]" | "{" path "}" | "[{" path "}]" )*
    key       := [A-Za-z0-9_-]+ | quoted string
    op        := "=" | "~" | ">" | "<" | ">=" | "<="     ("!=" = "~", "==" = "=")
    value     := quoted string | bare text up to , | ) } ] or blank
                 (parentheses inside a bare value must balance)

Meaning: a path names every leaf value reached through it, walking lists
element by element (see :mod:`paths`).  ``path op value`` holds when *any*
leaf satisfies it; ``~`` is the negation of ``=`` (no leaf equals the value).
``path=*`` holds when the path has a non-null leaf, ``path~*`` when it has
none.  ``*`` and ``?`` in a value are wildcards unless escaped with ``\\``.
Values that look like numbers compare numerically with numeric fields, IP
addresses compare as addresses (IPv4 and IPv6), ``addr/len`` is a CIDR prefix
test.  Quoting a value makes it a plain string.

A scoped condition such as ``packets[{b>1000,dir=">"}]`` requires one single
array element to satisfy the whole inner expression.
"""

import operator
import re

from .errors import QueryError
from .ipmatch import (addr_key, make_network_test, parse_address_literal,
                      parse_network_literal)
from .paths import make_getter, walk

# ----------------------------------------------------------------------------
# Syntax tree.  Plain tuples/classes keep the tree cheap; it is discarded once
# compiled.
# ----------------------------------------------------------------------------


class Pred:
    """``path op value``; ``value`` is a :class:`Value`."""

    def __init__(self, path, op, value, pos):
        self.path, self.op, self.value, self.pos = path, op, value, pos


class PathOnly:
    """A bare path, legal only as the whole content of ``{...}`` after a path."""

    def __init__(self, path, start, end):
        self.path, self.start, self.end = path, start, end


class Scoped:
    """``path{expr}``: some element (object) reached through ``path`` satisfies ``expr``."""

    def __init__(self, path, expr):
        self.path, self.expr = path, expr


class BoolOp:
    """AND / OR over two or more operands; ``kind`` is "and" or "or"."""

    def __init__(self, kind, items):
        self.kind, self.items = kind, items


class Not:
    def __init__(self, item):
        self.item = item


class Value:
    """A query value.

    ``text``: the value with quotes and escapes removed; ``quoted``: it was
    written in quotes (then it is always a string); ``regex``: anchored
    regular expression if the value has unescaped wildcards, else None;
    ``pos``: index of the value in the query (for error messages).
    """

    def __init__(self, text, quoted, regex, pos):
        self.text, self.quoted, self.regex, self.pos = text, quoted, regex, pos

    @property
    def is_star(self):
        """True for a lone unescaped ``*`` (the presence test)."""
        return self.regex is not None and self.regex == r"(?s:.*)"


# ----------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------

_OPS = (">=", "<=", "!=", "==", "=", "~", ">", "<")
_OP_ALIASES = {"!=": "~", "==": "="}
_KEY_EXTRA = "_-"
_VALUE_END = ",|}]"


class _Parser:
    """Recursive-descent parser over the query string (index ``self.pos``)."""

    def __init__(self, text, option):
        self.text = text
        self.option = option
        self.pos = 0
        self.n = len(text)

    # -- helpers ------------------------------------------------------------
    def error(self, message, pos=None):
        raise QueryError(message, self.text, self.pos if pos is None else pos, self.option)

    def skip_ws(self):
        text, n = self.text, self.n
        while self.pos < n and text[self.pos].isspace():
            self.pos += 1

    def peek(self):
        return self.text[self.pos] if self.pos < self.n else ""

    def expect(self, char, what):
        self.skip_ws()
        if self.peek() != char:
            found = self.peek()
            if not found:
                self.error("missing %s" % what)
            self.error("expected %s but found %r" % (what, found))
        self.pos += 1

    # -- grammar ------------------------------------------------------------
    def parse(self):
        self.skip_ws()
        if self.pos >= self.n:
            self.error("empty query")
        node = self.parse_and()
        self.skip_ws()
        if self.pos < self.n:
            char = self.peek()
            if char == ")":
                self.error("unbalanced ')'")
            if char in "}]":
                self.error("unbalanced %r" % char)
            self.error("unexpected character %r" % char)
        self.reject_bare_path(node)
        return node

    def reject_bare_path(self, node):
        if isinstance(node, PathOnly):
            field = self.text[node.start:node.end]
            self.error("expected an operator (= ~ > < >= <=) after %r; use %s=* to test "
                       "presence" % (field, field), node.end)

    def parse_and(self):
        items = [self.parse_or()]
        self.skip_ws()
        while self.peek() == ",":
            self.pos += 1
            items.append(self.parse_or())
            self.skip_ws()
        if len(items) == 1:
            return items[0]
        for item in items:
            self.reject_bare_path(item)
        return BoolOp("and", items)

    def parse_or(self):
        items = [self.parse_unary()]
        self.skip_ws()
        while self.peek() == "|":
            self.pos += 1
            items.append(self.parse_unary())
            self.skip_ws()
        if len(items) == 1:
            return items[0]
        for item in items:
            self.reject_bare_path(item)
        return BoolOp("or", items)

    def parse_unary(self):
        self.skip_ws()
        char = self.peek()
        if char == "!":
            self.pos += 1
            item = self.parse_unary()
            self.reject_bare_path(item)
            return Not(item)
        if char == "(":
            self.pos += 1
            node = self.parse_and()
            self.reject_bare_path(node)
            self.expect(")", "')'")
            return node
        if char == "":
            self.error("expected a condition")
        return self.parse_condition()

    def parse_key(self):
        """A field name: bare word or quoted string."""
        self.skip_ws()
        start = self.pos
        char = self.peek()
        if char in ("'", '"'):
            return self.parse_quoted()[0]
        text, n = self.text, self.n
        while self.pos < n and (text[self.pos].isalnum() or text[self.pos] in _KEY_EXTRA):
            self.pos += 1
        if self.pos == start:
            if char and char in "=~<>":
                self.error("missing field name before %r" % char)
            self.error("expected a field name but found %s"
                       % (repr(char) if char else "the end"))
        return text[start:self.pos]

    def parse_condition(self):
        start = self.pos
        path = [self.parse_key()]
        while True:
            char = self.peek()
            if char == ".":
                self.pos += 1
                path.append(self.parse_key())
            elif char == "[":
                self.pos += 1
                self.skip_ws()
                if self.peek() == "]":
                    self.pos += 1
                    continue
                if self.peek() != "{":
                    self.error("expected '[]' or '[{' after %r" % path[-1])
                self.pos += 1
                inner = self.parse_and()
                self.expect("}", "'}'")
                self.expect("]", "']' to close '[{'")
                if not isinstance(inner, PathOnly):
                    return self.finish_scoped(path, inner)
                path.extend(inner.path)
            elif char == "{":
                self.pos += 1
                inner = self.parse_and()
                self.expect("}", "'}'")
                if not isinstance(inner, PathOnly):
                    return self.finish_scoped(path, inner)
                path.extend(inner.path)
            else:
                break
        end = self.pos
        self.skip_ws()
        op = self.parse_op()
        if op is None:
            return PathOnly(tuple(path), start, end)
        value = self.parse_value(op)
        return Pred(tuple(path), op, value, start)

    def finish_scoped(self, path, inner):
        self.skip_ws()
        if self.parse_op(peek_only=True):
            self.error("an operator cannot follow a condition in braces")
        return Scoped(tuple(path), inner)

    def parse_op(self, peek_only=False):
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                if not peek_only:
                    self.pos += len(op)
                return _OP_ALIASES.get(op, op)
        return None

    def parse_quoted(self):
        """A '...' or "..." string with backslash escapes; returns (text, escaped_mask)."""
        quote = self.peek()
        start = self.pos
        self.pos += 1
        chars, literal = [], []
        text, n = self.text, self.n
        while self.pos < n:
            char = text[self.pos]
            if char == "\\" and self.pos + 1 < n:
                chars.append(text[self.pos + 1])
                literal.append(True)
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(chars), literal
            chars.append(char)
            literal.append(False)
            self.pos += 1
        self.error("unterminated quoted string", start)

    def parse_value(self, op):
        self.skip_ws()
        start = self.pos
        char = self.peek()
        if char == "" or char in _VALUE_END or char == ")":
            self.error("missing value after %r" % op)
        if char in ("'", '"'):
            text, literal = self.parse_quoted()
            quoted = True
        else:
            text, literal = self.parse_bare()
            quoted = False
        self.skip_ws()
        nxt = self.peek()
        if nxt and nxt not in _VALUE_END and nxt != ")":
            self.error("unexpected %r after the value (quote values that contain blanks "
                       "or , | ( ) { } [ ])" % nxt)
        return Value(text, quoted, _glob_regex(text, literal), start)

    def parse_bare(self):
        """Bare value: up to a delimiter or blank; balanced (...) may be part of it."""
        chars, literal = [], []
        depth = 0
        text, n = self.text, self.n
        while self.pos < n:
            char = text[self.pos]
            if char == "\\" and self.pos + 1 < n:
                chars.append(text[self.pos + 1])
                literal.append(True)
                self.pos += 2
                continue
            if char.isspace() or char in _VALUE_END:
                break
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            chars.append(char)
            literal.append(False)
            self.pos += 1
        return "".join(chars), literal


def _glob_regex(text, literal):
    """Regex for a value with unescaped ``*``/``?`` wildcards, or None if it has none."""
    if not any(c in "*?" and not lit for c, lit in zip(text, literal)):
        return None
    parts = []
    for char, lit in zip(text, literal):
        if not lit and char == "*":
            parts.append(".*")
        elif not lit and char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "(?s:%s)" % "".join(parts)


def parse_where(text, option="--where"):
    """Parse a query into its syntax tree (raises :class:`QueryError`)."""
    return _Parser(text, option).parse()


# ----------------------------------------------------------------------------
# Compiler: syntax tree -> closures
# ----------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\Z")
_ORDER = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


def _number(text):
    if not _NUMBER.match(text):
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _scalar_text(value):
    """Text a wildcard pattern is matched against, for non-string leaves."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return repr(value)
    return None


def _equality_test(value):
    """``test(leaf) -> bool`` for ``=`` with a value without wildcards."""
    text = value.text
    num = addr = net_test = None
    if not value.quoted:
        num = _number(text)
        addr = parse_address_literal(text)
        net = parse_network_literal(text)
        if net is not None:
            net_test = make_network_test(net)

    def test(leaf):
        kind = type(leaf)
        if kind is str:
            if leaf == text:
                return True
            if addr is not None:
                return addr_key(leaf) == addr
            if net_test is not None:
                return net_test(leaf)
            return False
        if kind is int or kind is float:
            return num is not None and leaf == num
        if kind is bool:
            return text == ("true" if leaf else "false")
        return False

    return test


def _wildcard_test(value):
    match = re.compile(value.regex).fullmatch

    def test(leaf):
        if type(leaf) is str:
            return match(leaf) is not None
        text = _scalar_text(leaf)
        return text is not None and match(text) is not None

    return test


def _order_test(op, value, query, option):
    compare = _ORDER[op]
    text = value.text
    if value.regex is not None:
        raise QueryError("wildcards only work with = and ~", query, value.pos, option)
    num = None if value.quoted else _number(text)
    if num is not None:
        def test(leaf):
            kind = type(leaf)
            return (kind is int or kind is float) and compare(leaf, num)
        return test
    addr = None if value.quoted else parse_address_literal(text)
    if addr is not None:
        bits, want = addr

        def test(leaf):
            key = addr_key(leaf) if type(leaf) is str else None
            return key is not None and key[0] == bits and compare(key[1], want)
        return test
    if not value.quoted and parse_network_literal(text) is not None:
        raise QueryError("a CIDR prefix only works with = and ~", query, value.pos, option)

    def test(leaf):
        return type(leaf) is str and compare(leaf, text)
    return test


def _compile_pred(node, query, option):
    getter = make_getter(node.path)
    value, op = node.value, node.op
    if value.is_star:
        if op == "=":
            return lambda obj: bool(getter(obj))
        if op == "~":
            return lambda obj: not getter(obj)
        raise QueryError("'*' (present) only works with = and ~", query, value.pos, option)
    if op in ("=", "~"):
        test = _wildcard_test(value) if value.regex else _equality_test(value)
        if op == "=":
            fast = _fast_equality(node, test, getter)
            if fast is not None:
                return fast
            return lambda obj: any(map(test, getter(obj)))
        return lambda obj: not any(map(test, getter(obj)))
    test = _order_test(op, value, query, option)
    return lambda obj: any(map(test, getter(obj)))


def _fast_equality(node, test, getter):
    """Shortcut for ``key=number`` on a top-level key (``dp=443``, ``pr=17``)."""
    if len(node.path) != 1 or node.value.regex or node.value.quoted:
        return None
    num = _number(node.value.text)
    if num is None:
        return None
    key = node.path[0]

    def pred(obj):
        leaf = obj.get(key)
        kind = type(leaf)
        if kind is int or kind is float:
            return leaf == num
        if leaf is None:
            return False
        return any(map(test, getter(obj)))

    return pred


def _compile(node, query, option):
    if isinstance(node, Pred):
        return _compile_pred(node, query, option)
    if isinstance(node, BoolOp):
        funcs = [_compile(item, query, option) for item in node.items]
        return _combine(node.kind, funcs)
    if isinstance(node, Not):
        inner = _compile(node.item, query, option)
        return lambda obj: not inner(obj)
    if isinstance(node, Scoped):
        inner = _compile(node.expr, query, option)
        path = node.path

        def scoped(obj):
            for element in walk(obj, path):
                if type(element) is dict and inner(element):
                    return True
            return False

        return scoped
    raise QueryError("expected an operator after the field name", query, node.end, option)


def _combine(kind, funcs):
    """Fold a list of predicates into nested two-way and/or closures."""
    result = funcs[0]
    for func in funcs[1:]:
        left, right = result, func
        if kind == "and":
            result = (lambda a, b: lambda obj: a(obj) and b(obj))(left, right)
        else:
            result = (lambda a, b: lambda obj: a(obj) or b(obj))(left, right)
    return result


def compile_where(text, option="--where"):
    """Parse and compile a query; returns ``predicate(record) -> bool``."""
    tree = parse_where(text, option)
    return _compile(tree, text, option)
