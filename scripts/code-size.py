#!/usr/bin/env python3
"""Reports .cc files over --max-file lines and functions over --max-function lines (issue 12's
size budget) in plugin/ and fhir/.

How it measures: a scanner skips comments, string, character and raw-string literals and
tracks braces. A brace block is a function body when its preamble (the text since the last
';', '{' or '}') has a parameter list and no enclosing block is already a function (lambdas
and local blocks count toward the function that holds them). A function's length runs from
the first line of its preamble (the signature) to its closing brace.
Usage: scripts/code-size.py [--max-file 600] [--max-function 120] [DIR...]
Exit 1 when anything is over budget."""
import argparse
import pathlib
import re
import sys

RAW = re.compile(r'R"([^(\s]*)\(')


def blocks(text):
    """Yields (kind, preamble start offset, close offset, preamble) for top-level functions."""
    i, n = 0, len(text)
    stack = []  # kinds: 'ns', 'type', 'fn', 'inner'
    pre_start = 0
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            i = text.find('\n', i)
            i = n if i < 0 else i
            continue
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            i = n if j < 0 else j + 2
            continue
        m = RAW.match(text, i)
        if m:
            end = text.find(')' + m.group(1) + '"', m.end())
            i = n if end < 0 else end + len(m.group(1)) + 2
            continue
        if c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            i = j + 1
            continue
        if c in ';':
            pre_start = i + 1
        elif c == '{':
            pre = re.sub(r'//[^\n]*|/\*.*?\*/', ' ', text[pre_start:i], flags=re.S)
            words = re.sub(r'\s+', ' ', pre).strip()
            if any(k == 'fn' for k, _, _ in stack):
                kind = 'inner'
            elif re.search(r'\bnamespace\b', words) or words.startswith('extern "C"'):
                kind = 'ns'
            elif re.search(r'\b(class|struct|union|enum)\b', words) and '(' not in words:
                kind = 'type'
            elif ')' in words:
                kind = 'fn'
            else:
                kind = 'inner'
            stack.append((kind, pre_start, words))
            pre_start = i + 1
        elif c == '}':
            if stack:
                kind, start, words = stack.pop()
                if kind == 'fn':
                    yield start, i, words
            pre_start = i + 1
        i += 1


def line_of(text, offset):
    return text.count('\n', 0, offset) + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--max-file', type=int, default=600)
    ap.add_argument('--max-function', type=int, default=120)
    ap.add_argument('dirs', nargs='*', default=['plugin', 'fhir'])
    a = ap.parse_args()
    over = 0
    longest = []
    for d in a.dirs:
        for p in sorted(pathlib.Path(d).rglob('*.cc')):
            text = p.read_text(encoding='utf-8', errors='replace')
            lines = text.count('\n')
            if lines > a.max_file:
                print(f'file     {lines:5d}  {p}')
                over += 1
            for start, close, words in blocks(text):
                while start < close and text[start] in ' \t\n':
                    start += 1
                first, last = line_of(text, start), line_of(text, close)
                length = last - first + 1
                longest.append((length, f'{p}:{first}'))
                if length > a.max_function:
                    print(f'function {length:5d}  {p}:{first}  {words[:70]}')
                    over += 1
    longest.sort(reverse=True)
    print('longest functions:', ', '.join(f'{n} {w}' for n, w in longest[:5]))
    print(f'{over} over budget (files > {a.max_file} lines, functions > {a.max_function} lines)')
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
