#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks that docs/dbus-api.md documents every member of the D-Bus API.

Usage: check-dbus-doc.py XML DOC

XML is the introspection data (data/org.cpns.Gateway1.xml), DOC the Markdown
reference (docs/dbus-api.md).  The conventions the document follows are
spelled out in its section "Conventions":

  - each interface has a heading "Interface NAME" (NAME may be in backticks);
    its section runs to the next heading of the same or a higher level;
  - inside it, each method has a heading "Method NAME" and each signal a
    heading "Signal NAME";
  - method arguments are table rows  | in/out | `name` | `type` | ... |
    and signal arguments rows  | `name` | `type` | ... |  in the member's
    section, in the order of the XML;
  - properties are rows  | `Name` | `type` | access | ... |  of a table under
    a heading "Properties" inside the interface's section;
  - every org.cpns.Error.* name used anywhere has a row in the table of the
    section "Errors".

Exits 0 when everything is there, 1 (listing every problem) otherwise, 2 on
a usage error.  Only the Python standard library is used.
"""

import re
import sys
import xml.etree.ElementTree as ET

HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
FENCE = re.compile(r'^\s*(```|~~~)')
NAME = r'`?([A-Za-z_][A-Za-z0-9_.]*)`?'
CODE = re.compile(r'^`([^`]+)`$')
ERROR_NAME = re.compile(r'\borg\.cpns\.Error\.[A-Za-z0-9_]+')


class Section:
    def __init__(self, level, title, start, end):
        self.level, self.title, self.start, self.end = level, title, start, end


def parse_sections(lines):
    """Returns every heading as a Section, skipping fenced code blocks."""
    heads = []
    fenced = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        m = HEADING.match(line)
        if m:
            heads.append((len(m.group(1)), m.group(2), i))
    sections = []
    for n, (level, title, start) in enumerate(heads):
        end = len(lines)
        for level2, _, start2 in heads[n + 1:]:
            if level2 <= level:
                end = start2
                break
        sections.append(Section(level, title, start, end))
    return sections


def table_rows(lines, start, end, stop_at_heading=True):
    """Table rows (lists of stripped cells) in lines[start:end], outside code
    blocks and, with stop_at_heading, before the first sub-heading."""
    rows = []
    fenced = False
    for line in lines[start + 1:end]:
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if stop_at_heading and HEADING.match(line):
            break
        s = line.strip()
        if not s.startswith('|'):
            continue
        cells = [c.strip() for c in s.strip('|').split('|')]
        if all(re.fullmatch(r':?-{3,}:?', c) for c in cells if c):
            continue  # the separator row
        rows.append(cells)
    return rows


def code(cell):
    m = CODE.match(cell)
    return m.group(1) if m else None


def find(sections, pattern, within=None):
    """Sections whose title matches pattern (anchored), optionally inside
    the section within (deeper level, inside its line range)."""
    found = []
    for s in sections:
        if within is not None and not (within.start < s.start < within.end
                                       and s.level > within.level):
            continue
        m = re.match(pattern + r'(?:\s|$|\W)', s.title)
        if m:
            found.append((s, m))
    return found


def check_args(problems, where, xml_args, rows, is_method):
    doc_args = []
    for cells in rows:
        if is_method:
            if len(cells) < 3 or cells[0] not in ('in', 'out'):
                continue
            name, typ, direction = code(cells[1]), code(cells[2]), cells[0]
        else:
            if len(cells) < 2:
                continue
            name, typ, direction = code(cells[0]), code(cells[1]), 'out'
        if name is None or typ is None:
            continue
        doc_args.append((name, typ, direction))
    doc_names = [a[0] for a in doc_args]
    for name, typ, direction in xml_args:
        if name not in doc_names:
            problems.append('%s: argument %s (%s %s) is not documented'
                            % (where, name, direction, typ))
            continue
        _, dtyp, ddir = doc_args[doc_names.index(name)]
        if dtyp != typ:
            problems.append('%s: argument %s has type %s in the XML, %s in the doc'
                            % (where, name, typ, dtyp))
        if is_method and ddir != direction:
            problems.append('%s: argument %s is %s in the XML, %s in the doc'
                            % (where, name, direction, ddir))
    xml_names = [a[0] for a in xml_args]
    for name in doc_names:
        if name not in xml_names:
            problems.append('%s: the doc lists an argument %s that the XML does not have'
                            % (where, name))
    common_xml = [n for n in xml_names if n in doc_names]
    common_doc = [n for n in doc_names if n in xml_names]
    if common_xml != common_doc:
        problems.append('%s: arguments are in the order %s in the doc, %s in the XML'
                        % (where, ', '.join(common_doc), ', '.join(common_xml)))


def main(argv):
    if len(argv) != 3:
        print('usage: check-dbus-doc.py XML DOC', file=sys.stderr)
        return 2
    xml_path, doc_path = argv[1], argv[2]
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as e:
        print('%s: %s' % (xml_path, e), file=sys.stderr)
        return 1
    try:
        with open(doc_path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError as e:
        print('%s: %s' % (doc_path, e), file=sys.stderr)
        return 1

    sections = parse_sections(lines)
    problems = []
    counts = dict(interfaces=0, methods=0, signals=0, properties=0, arguments=0)
    xml_ifaces = [i.get('name') for i in root.findall('interface')]

    for iface in root.findall('interface'):
        iname = iface.get('name')
        counts['interfaces'] += 1
        hits = [s for s, m in find(sections, r'Interface\s+' + NAME) if m.group(1) == iname]
        if not hits:
            problems.append('interface %s: no heading "Interface %s"' % (iname, iname))
            continue
        if len(hits) > 1:
            problems.append('interface %s: %d headings, expected one' % (iname, len(hits)))
        isec = hits[0]

        for kind, tag in (('Method', 'method'), ('Signal', 'signal')):
            xml_members = iface.findall(tag)
            doc_members = {m.group(1): s for s, m in find(sections, kind + r'\s+' + NAME, isec)}
            for member in xml_members:
                mname = member.get('name')
                counts[tag + 's'] += 1
                where = '%s.%s' % (iname, mname)
                if mname not in doc_members:
                    problems.append('%s: no heading "%s %s" in the section of %s'
                                    % (where, kind, mname, iname))
                    continue
                msec = doc_members[mname]
                xml_args = [(a.get('name'), a.get('type'),
                             a.get('direction', 'in' if tag == 'method' else 'out'))
                            for a in member.findall('arg')]
                for i, a in enumerate(xml_args):
                    if a[0] is None:
                        problems.append('%s: argument %d has no name in the XML' % (where, i))
                counts['arguments'] += len(xml_args)
                rows = table_rows(lines, msec.start, msec.end)
                check_args(problems, where, [a for a in xml_args if a[0]], rows,
                           tag == 'method')
            xml_names = {m.get('name') for m in xml_members}
            for name in doc_members:
                if name not in xml_names:
                    problems.append('%s: the doc has "%s %s", which the XML does not have'
                                    % (iname, kind, name))

        xml_props = iface.findall('property')
        psecs = [s for s, _ in find(sections, r'Properties', isec)]
        doc_props = {}
        for psec in psecs:
            for cells in table_rows(lines, psec.start, psec.end):
                if len(cells) >= 3 and code(cells[0]) and code(cells[1]):
                    doc_props[code(cells[0])] = (code(cells[1]), cells[2])
        if xml_props and not psecs:
            problems.append('interface %s: no heading "Properties" in its section' % iname)
        for prop in xml_props:
            pname, ptype, paccess = prop.get('name'), prop.get('type'), prop.get('access')
            counts['properties'] += 1
            where = '%s.%s' % (iname, pname)
            if pname not in doc_props:
                problems.append('%s: property (%s, %s) has no row under "Properties"'
                                % (where, ptype, paccess))
                continue
            dtype, daccess = doc_props[pname]
            if dtype != ptype:
                problems.append('%s: property has type %s in the XML, %s in the doc'
                                % (where, ptype, dtype))
            if daccess != paccess:
                problems.append('%s: property is %s in the XML, %s in the doc'
                                % (where, paccess, daccess))
        for name in doc_props:
            if name not in {p.get('name') for p in xml_props}:
                problems.append('%s: the doc lists a property %s that the XML does not have'
                                % (iname, name))

    # Interfaces documented with the convention but absent from the XML.
    for s, m in find(sections, r'Interface\s+' + NAME):
        if m.group(1) not in xml_ifaces:
            problems.append('the doc has "Interface %s", which the XML does not have'
                            % m.group(1))

    # Error names: each one used is defined in the table of "Errors".
    esecs = [s for s in sections if s.title.strip() == 'Errors']
    if not esecs:
        problems.append('no section "Errors"')
    else:
        defined = set()
        for cells in table_rows(lines, esecs[0].start, esecs[0].end):
            name = code(cells[0]) if cells else None
            if name and ERROR_NAME.fullmatch(name):
                defined.add(name)
        used = set()
        for line in lines:
            used.update(ERROR_NAME.findall(line))
        for name in sorted(used - defined):
            problems.append('error %s is used but has no row in the table of "Errors"'
                            % name)

    if problems:
        print('%s does not match %s:' % (doc_path, xml_path))
        for p in problems:
            print('  - ' + p)
        print('%d problem(s)' % len(problems))
        return 1
    print('%s documents %d interfaces, %d methods, %d signals, %d properties, '
          '%d arguments of %s'
          % (doc_path, counts['interfaces'], counts['methods'], counts['signals'],
             counts['properties'], counts['arguments'], xml_path))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
