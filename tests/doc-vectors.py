#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeps the vector section of docs/protocol.md equal to `cpns-vectors doc`.

    doc-vectors.py CPNS_VECTORS PROTOCOL_MD --check    fail if they differ
    doc-vectors.py CPNS_VECTORS PROTOCOL_MD --update   rewrite the section
"""
import subprocess
import sys

BEGIN = "<!-- BEGIN VECTORS"
END = "<!-- END VECTORS -->"


def main():
    tool, doc, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    generated = subprocess.run([tool, "doc"], check=True, capture_output=True,
                               text=True).stdout
    text = open(doc, encoding="utf-8").read()
    start = text.index(BEGIN)
    start = text.index("\n", start) + 1
    end = text.index(END)
    current = text[start:end]
    if mode == "--update":
        with open(doc, "w", encoding="utf-8") as f:
            f.write(text[:start] + generated + text[end:])
        return 0
    if current != generated:
        sys.stderr.write("docs/protocol.md test vectors differ from the code; run\n"
                         "  tests/doc-vectors.py build/tests/cpns-vectors "
                         "docs/protocol.md --update\nafter checking the change "
                         "is intended.\n")
        return 1
    print("docs/protocol.md vectors match the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
