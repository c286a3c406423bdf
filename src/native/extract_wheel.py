"""Lays out a TensorFlow wheel's C library the way the tfjs-node addon build expects it.

    python3 extract_wheel.py tensorflow WHEEL DEST BINDING_DIR
        DEST/lib/libtensorflow_cc.so.2, libtensorflow_framework.so.2 (+ the unversioned
        names the addon links with), and DEST/include/: only the headers the addon's sources
        include, followed transitively (about 15 files, not the wheel's 270 MB of headers).
    python3 extract_wheel.py nvidia WHEEL DEST
        DEST/nvidia/<name>/lib/*: the CUDA libraries of an nvidia-*-cu12 wheel, where the
        library's RUNPATH ($ORIGIN/../nvidia/<name>/lib) looks for them.

Python is used because pip (which fetched the wheel) brings it; the standard library reads zips.
"""
import glob
import os
import re
import sys
import zipfile

INCLUDE = re.compile(rb'^\s*#\s*include\s+["<]([^">]+)[">]', re.M)
HEADERS = 'tensorflow/include/'
LIBRARIES = {
    'tensorflow/libtensorflow_cc.so.2': 'libtensorflow_cc.so.2',
    'tensorflow/libtensorflow_framework.so.2': 'libtensorflow_framework.so.2',
}


def write(zf, member, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zf.open(member) as src, open(target, 'wb') as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def tensorflow(wheel, dest, binding_dir):
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    missing = [m for m in LIBRARIES if m not in names]
    if missing:
        sys.exit(f'{wheel} has no {", ".join(missing)}: not a TensorFlow wheel with the C library')
    for member, name in LIBRARIES.items():
        write(zf, member, os.path.join(dest, 'lib', name))
    os.symlink('libtensorflow_cc.so.2', os.path.join(dest, 'lib', 'libtensorflow.so'))
    os.symlink('libtensorflow_framework.so.2', os.path.join(dest, 'lib', 'libtensorflow_framework.so'))

    pending = []
    for source in glob.glob(os.path.join(binding_dir, '*')):
        with open(source, 'rb') as f:
            pending += [HEADERS + m.decode() for m in INCLUDE.findall(f.read())]
    seen = set()
    while pending:
        member = pending.pop()
        if member in seen or member not in names:
            continue  # system and Node headers are not in the wheel
        seen.add(member)
        pending += [HEADERS + m.decode() for m in INCLUDE.findall(zf.read(member))]
    if HEADERS + 'tensorflow/c/c_api.h' not in seen:
        sys.exit(f'no tensorflow/c/c_api.h reached from {binding_dir}: is it the tfjs-node binding?')
    for member in seen:
        write(zf, member, os.path.join(dest, 'include', member[len(HEADERS):]))
    print(f'{len(LIBRARIES)} libraries, {len(seen)} headers')


def nvidia(wheel, dest):
    zf = zipfile.ZipFile(wheel)
    members = [m for m in zf.namelist() if m.startswith('nvidia/') and '/lib/' in m and not m.endswith('/')]
    for member in members:
        write(zf, member, os.path.join(dest, member))
    print(f'{len(members)} CUDA files')


if __name__ == '__main__':
    kind, *args = sys.argv[1:]
    {'tensorflow': tensorflow, 'nvidia': nvidia}[kind](*args)
