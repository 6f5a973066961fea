"""Walking paths through nested records.

A *path* is a tuple of object keys, e.g. ``("tls", "s_cert", "signature_algo")``.
Lists met on the way are walked transparently: every element is followed, so a
path names a multiset of *leaf values*.  This is how "arrays match if any element
matches" is implemented for ``--where``, and how ``--sum``/``--csv`` reach into
arrays.

``leaf_values(obj, path)`` returns the leaves as a list; lists at the end of
the path are flattened (``tls{sni}`` on ``{"tls":{"sni":["a","b"]}}`` yields
``["a", "b"]``) and JSON nulls are dropped, so "present" means "has at least
one non-null leaf".
"""


def _flatten_into(value, out):
    """Append ``value`` to ``out``, expanding (nested) lists and dropping nulls."""
    if value is None:
        return
    if type(value) is list:
        for item in value:
            _flatten_into(item, out)
    else:
        out.append(value)


def make_getter(path):
    """Compile ``path`` to a function ``obj -> list of leaf values``.

    One-key and two-key paths without lists (the common case: ``dp``,
    ``tls{scs}``) get short specialised closures.
    """
    path = tuple(path)
    if len(path) == 1:
        key = path[0]

        def get1(obj):
            value = obj.get(key)
            if value is None:
                return ()
            if type(value) is list:
                out = []
                _flatten_into(value, out)
                return out
            return (value,)

        return get1

    if len(path) == 2:
        k1, k2 = path

        def get2(obj):
            inner = obj.get(k1)
            if type(inner) is dict:
                value = inner.get(k2)
                if value is None:
                    return ()
                if type(value) is list:
                    out = []
                    _flatten_into(value, out)
                    return out
                return (value,)
            if type(inner) is list:
                return walk(obj, path)
            return ()

        return get2

    def getn(obj):
        return walk(obj, path)

    return getn


def walk(obj, path):
    """General leaf walker: follow ``path`` through dicts, fanning out over lists."""
    current = [obj]
    for key in path:
        following = []
        for node in current:
            _step(node, key, following)
        if not following:
            return []
        current = following
    out = []
    for node in current:
        _flatten_into(node, out)
    return out


def _step(node, key, following):
    """Append ``node[key]`` (for every dict reachable through lists) to ``following``."""
    if type(node) is dict:
        value = node.get(key)
        if value is not None:
            following.append(value)
    elif type(node) is list:
        for item in node:
            _step(item, key, following)


def get_nested(obj, path):
    """Value at ``path`` keeping structure: lists on the way become lists of results.

    Used for CSV cells: ``packets.b`` on a record gives ``[12, 40, ...]``; a
    missing key gives None.
    """
    value = obj
    for key in path:
        if type(value) is dict:
            value = value.get(key)
        elif type(value) is list:
            items = []
            for item in value:
                sub = get_nested(item, (key,))
                if sub is not None:
                    items.append(sub)
            value = items if items else None
        else:
            return None
        if value is None:
            return None
    return value
