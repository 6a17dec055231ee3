#!/usr/bin/python3
"""Runs one command and checks what ctest's PASS_REGULAR_EXPRESSION alone cannot: the exit status
(and that no signal ended it) together with the output, plus files the command must have made.

Usage: check_cli.py [--exit N] [--expect REGEX]... [--reject REGEX]... [--greater REGEX VALUE]...
                    [--file PATH]... [--png PATH]... [--timeout S] -- COMMAND [ARG...]
  --exit N           required exit status (default 0); a death by signal always fails
  --expect REGEX     must match the combined stdout+stderr (re.M | re.S)
  --reject REGEX     must not match it
  --greater RE V     RE's first group, read as a number, must be > V (e.g. a rate > 0)
  --file PATH        must exist and be non-empty after the command
  --png PATH         must be a PNG that decodes: chunk CRCs, IHDR, zlib stream and scanline count
Standard library only.
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import zlib


def png_problem(path):
    """None when `path` decodes as a PNG, else what is wrong with it."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        return str(e)
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "no PNG signature"
    pos, idat, header = 8, b"", None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            return f"chunk {kind!r} truncated"
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return f"chunk {kind!r} fails its CRC"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        return "no IHDR chunk"
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    if channels is None or width == 0 or height == 0:
        return f"bad IHDR {header}"
    try:
        raw = zlib.decompress(idat)
    except zlib.error as e:
        return f"image data does not inflate: {e}"
    if interlace == 0:
        want = height * (1 + (width * channels * depth + 7) // 8)
        if len(raw) != want:
            return f"{len(raw)} bytes of scanlines, expected {want} for {width}x{height}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exit", type=int, default=0)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--greater", nargs=2, action="append", default=[], metavar=("REGEX", "VALUE"))
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--png", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=1500)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        sys.exit("check_cli.py: no command given")
    print("$ " + " ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=a.timeout)
    except subprocess.TimeoutExpired as e:
        sys.stdout.write((e.output or b"").decode(errors="replace"))
        sys.exit(f"FAIL: timed out after {a.timeout} s")
    out = p.stdout.decode(errors="replace")
    sys.stdout.write(out)
    problems = []
    if p.returncode < 0:
        problems.append(f"killed by signal {-p.returncode}")
    elif p.returncode != a.exit:
        problems.append(f"exit status {p.returncode}, expected {a.exit}")
    for rx in a.expect:
        if not re.search(rx, out, re.M | re.S):
            problems.append(f"output does not match /{rx}/")
    for rx in a.reject:
        m = re.search(rx, out, re.M | re.S)
        if m:
            problems.append(f"output matches /{rx}/: {m.group(0)[:200]!r}")
    for rx, value in a.greater:
        m = re.search(rx, out, re.M | re.S)
        if not m:
            problems.append(f"output does not match /{rx}/")
        elif not float(m.group(1)) > float(value):
            problems.append(f"/{rx}/ read {m.group(1)}, expected > {value}")
    for path in a.file:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            problems.append(f"{path} is missing or empty")
    for path in a.png:
        why = png_problem(path)
        if why:
            problems.append(f"{path} is not a decodable PNG: {why}")
    if problems:
        print("\n".join("FAIL: " + x for x in problems))
        sys.exit(1)
    print("check_cli: ok")


if __name__ == "__main__":
    main()
