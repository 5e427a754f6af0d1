#!/usr/bin/env python3
"""Fails when a source under src/<module>/ includes a module it may not depend on.

The table is the design (DESIGN.md, "Modules"): `api` depends only on `common`, nothing
depends on `server`, and the graph has no cycle. CMakeLists.txt links the same edges. Run:
    python3 scripts/check_module_deps.py src
"""
import os
import re
import sys

# module -> modules it may include (besides itself). `nimbus` is the public SDK header.
ALLOWED = {
    "common": set(),
    "api": {"common", "nimbus"},  # nimbus: the SDK's std-only durable_types.h
    "observability": {"common"},
    "http": {"api", "common"},
    "security": {"api", "common"},
    # ai: moderation providers and their resilience (src/ai/README.md); http/security for the
    # host-side wiring to come (routes, keys), not used yet.
    "ai": {"api", "common", "http", "security"},
    "storage": {"api", "common"},
    # security: nimbus-queue-server --tls generates its TLS certificate (security/tls_cert.h).
    "queue": {"api", "common", "http", "storage", "security"},
    "bindings": {"api", "common", "queue"},
    "config": {"api", "common", "http", "bindings"},
    "runtime": {"api", "common", "observability"},
    "workers": {"api", "common", "config", "observability", "http", "nimbus"},
    # security: nimbus-docs-server generates its TLS certificate (security/tls_cert.h).
    "documents": {"api", "common", "storage", "http", "security"},
    "triggers": {"api", "common", "bindings", "config", "documents", "http", "observability", "queue",
                 "runtime", "security"},
    # durable: the engine runs invocations through the runtime's dispatcher and commits through
    # the storage engine's Effects; its HTTP API uses the http helpers and the key store.
    "durable": {"api", "bindings", "common", "config", "http", "observability", "runtime",
                "security", "triggers"},
    # ai: the host owns the app's moderator and loads moderation input bindings with it.
    "server": {"ai", "api", "durable", "bindings", "common", "config", "http", "observability",
               "queue", "runtime", "security", "storage", "triggers", "workers", "documents"},
}
# Tests may also use the shared test helpers in testing/ and the embedded store.
TEST_EXTRA = {"testing", "storage"}  # tests may run on the real embedded store

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.M)


def cycles(graph):
    seen, stack, found = set(), [], []

    def visit(n):
        if n in stack:
            found.append(stack[stack.index(n):] + [n])
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if d in graph:
                visit(d)
        stack.pop()

    for n in sorted(graph):
        visit(n)
    return found


def main(root):
    problems = []
    for c in cycles(ALLOWED):
        problems.append("the allowed table has a cycle: " + " -> ".join(c))
    checked = 0
    for module in sorted(os.listdir(root)):
        mdir = os.path.join(root, module)
        if not os.path.isdir(mdir):
            continue
        if module not in ALLOWED:
            problems.append(f"src/{module}/ is not in the module table of {sys.argv[0]}; "
                            "add it with the modules it may depend on")
            continue
        for dirpath, _, files in os.walk(mdir):
            for f in files:
                if not f.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, os.path.dirname(root))
                allowed = ALLOWED[module] | {module}
                if f.endswith("_test.cc") or "_fuzz" in f:
                    allowed = allowed | TEST_EXTRA
                text = open(path, encoding="utf-8", errors="replace").read()
                checked += 1
                for m in INCLUDE.finditer(text):
                    dep = m.group(1)
                    if dep not in allowed:
                        line = text.count("\n", 0, m.start()) + 1
                        problems.append(f"{rel}:{line}: includes \"{dep}/...\", but {module} may "
                                        f"depend only on {sorted(ALLOWED[module]) or 'nothing'}; "
                                        "move the code or change the design table")
    for p in problems:
        print(p)
    print(f"{checked} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
