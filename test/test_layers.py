#!/usr/bin/env python3
"""Layering: every #include in src/ points one way (doc/internals/architecture.md).

Each folder of src/ may include headers of the folders listed for it below,
and nothing else.  Modules and parsers see only the engine's interface
headers (the module interface and the packet/flow types), never its
internals (meter.h, context.h, record.h); nothing includes a module's
private header except modules; and include/joy/joy.h, the public header,
includes no header of ours.  Also: every header in include/ is under
include/joy/ (the only public header), and every exported function of the
engine is declared in joy.h.

Interpreter: any Python 3 (standard library only).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")

ENGINE_INTERFACE = {"module.h", "flow.h", "packet.h", "anon.h", "config.h"}
ENGINE_DATA = {"flow.h", "packet.h", "anon.h", "module.h", "config.h"}

# folder -> folders it may include (engine:iface / engine:data = only those headers)
ALLOWED = {
    "cli": {"cli", "capture", "output", "ipfix", "util", "public"},
    "capture": {"capture", "util", "public"},
    "output": {"output", "ipfix", "util", "public"},
    "ipfix": {"ipfix", "util", "public"},
    "engine": {"engine", "proto", "util", "public"},
    "modules": {"modules", "proto", "util", "engine:iface"},
    "proto": {"proto", "util", "engine:data"},
    "util": {"util"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def header_homes():
    homes = {}
    for d in os.listdir(SRC):
        p = os.path.join(SRC, d)
        if os.path.isdir(p):
            for n in os.listdir(p):
                if n.endswith(".h"):
                    homes.setdefault(n, []).append(d)
    return homes


def main():
    passed = failed = 0
    homes = header_homes()
    dup = {h: ds for h, ds in homes.items() if len(ds) > 1}
    if dup:
        print("FAIL header names must be unique across src/: %s" % dup)
        failed += 1
    else:
        passed += 1
    for folder in sorted(ALLOWED):
        path = os.path.join(SRC, folder)
        if not os.path.isdir(path):
            print("FAIL src/%s is missing" % folder)
            failed += 1
            continue
        bad = []
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(path, name)) as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                if inc == "joy/joy.h":
                    where = "public"
                elif inc in homes:
                    where = homes[inc][0]
                else:
                    bad.append("%s: \"%s\" is not a header of src/" % (name, inc))
                    continue
                allowed = ALLOWED[folder]
                ok = where in allowed
                if not ok and where == "engine":
                    ok = (("engine:iface" in allowed and inc in ENGINE_INTERFACE) or
                          ("engine:data" in allowed and inc in ENGINE_DATA))
                if not ok:
                    bad.append("%s includes %s/%s" % (name, where, inc))
        if bad:
            print("FAIL src/%s may include only %s:\n  %s"
                  % (folder, ", ".join(sorted(ALLOWED[folder])), "\n  ".join(bad)))
            failed += 1
        else:
            print("ok   src/%s includes only %s" % (folder, ", ".join(sorted(ALLOWED[folder]))))
            passed += 1
    extra = [d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d)) and d not in ALLOWED]
    if extra:
        print("FAIL folders of src/ without a rule here: %s" % extra)
        failed += 1
    else:
        passed += 1

    # include/: joy/joy.h only, and it includes no header of ours
    public = []
    for dp, _, files in os.walk(os.path.join(ROOT, "include")):
        public += [os.path.relpath(os.path.join(dp, f), ROOT) for f in files]
    joy_h = os.path.join(ROOT, "include", "joy", "joy.h")
    ours = INCLUDE.findall(open(joy_h).read()) if os.path.exists(joy_h) else ["(missing)"]
    if public == ["include/joy/joy.h"] and not ours:
        print("ok   include/ holds only joy/joy.h, which includes only system headers")
        passed += 1
    else:
        print("FAIL include/ holds %s; joy.h includes %s" % (public, ours))
        failed += 1

    # every function marked for export is declared in joy.h with JOY_API
    declared = set(re.findall(r"JOY_API[^;(]*?\b(joy_\w+)\s*\(", open(joy_h).read()))
    defined = set()
    for d in ("engine", "modules", "proto", "util"):
        for name in os.listdir(os.path.join(SRC, d)):
            if name.endswith(".c"):
                text = open(os.path.join(SRC, d, name)).read()
                defined |= set(re.findall(r"^[a-z][\w \*]*?\b(joy_\w+)\s*\([^;]*?\)\s*\{", text,
                                          re.M | re.S))
    missing = sorted(declared - defined)
    undeclared = sorted(defined - declared)
    if missing or undeclared:
        print("FAIL joy.h declares without a definition: %s; defined joy_* not in joy.h: %s"
              % (missing, undeclared))
        failed += 1
    else:
        print("ok   the %d functions of joy.h are defined, and no other joy_* function is"
              % len(declared))
        passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
