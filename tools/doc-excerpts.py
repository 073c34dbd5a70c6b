#!/usr/bin/python3
"""Check that documented driver code is the tested code.

A Markdown code block right after a line `<!-- excerpt: PATH -->` must appear
in PATH (relative to the repository's top), line for line in the same order;
indentation and blank lines aside.  Prints one line per block and exits 1 if
any block is not found.  t/030_drivers.pl runs it.
Usage: tools/doc-excerpts.py TOP FILE.md...
"""
import re
import sys

MARK = re.compile(r"^<!-- excerpt: (\S+) -->\s*$")


def significant(lines):
    return [l.strip() for l in lines if l.strip()]


def main():
    top, docs = sys.argv[1], sys.argv[2:]
    bad = checked = 0
    for doc in docs:
        lines = open(doc).read().split("\n")
        i = 0
        while i < len(lines):
            m = MARK.match(lines[i])
            i += 1
            if not m:
                continue
            if i >= len(lines) or not lines[i].startswith("```"):
                print(f"{doc}:{i}: excerpt mark not followed by a code block")
                bad += 1
                continue
            start = i + 1
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            block = significant(lines[start:end])
            i = end + 1
            try:
                source = significant(open(f"{top}/{m.group(1)}").read().split("\n"))
            except OSError as e:
                print(f"{doc}:{start}: {e}")
                bad += 1
                continue
            checked += 1
            n = len(block)
            if not any(source[k:k + n] == block for k in range(len(source) - n + 1)):
                print(f"{doc}:{start}: this block is not in {m.group(1)} (any more)")
                bad += 1
    print(f"doc excerpts: {checked} checked, {bad} not found")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
