#!/usr/bin/python3
"""Cross-check fedrouter's own Hadoop .proto files against Hadoop's.

Both sets are compiled with `protoc --descriptor_set_out --include_imports`
and compared by full message/enum name. A difference is anything that would
change the wire format or the protobuf-c names the C code relies on: a field's
name, number, type (and type_name for message/enum fields), label, default
value or packed option; an enum value; a ClientNamenodeProtocol rpc that the
reference has and we lack (or whose request/response types differ); a
reference message that we lack in a file we mirror in full.

Things that only exist on our side (messages, fields, enum values, rpcs that
Hadoop added after the reference copy was taken) are listed as notes, not
failures. Exit status: 0 = no differences, 1 = differences, 2 = usage/tool
error, 77 = reference directory absent (ctest reports the test as skipped).

    check_protos.py --ours DIR [--ref DIR] [--self-test]
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

DEFAULT_REF = '/usr/share/gocode/src/github.com/colinmarc/hdfs/internal/protocol'
SERVICE = 'hadoop.hdfs.ClientNamenodeProtocol'

# Files of ours that deliberately keep only part of Hadoop's file.
PARTIAL_FILES = {'HAServiceProtocol.proto', 'HdfsServer.proto'}

# Fields that newer Hadoop (3.3+) relaxed from required to optional; older
# references still say required. Keeping them optional lets us parse what
# newer clients send, so this is reported as a note.
RELAXED_TO_OPTIONAL = {
    'hadoop.hdfs.DataTransferTraceInfoProto.traceId',
    'hadoop.hdfs.DataTransferTraceInfoProto.parentId',
}

FD = descriptor_pb2.FieldDescriptorProto
LABEL = {FD.LABEL_OPTIONAL: 'optional', FD.LABEL_REQUIRED: 'required',
         FD.LABEL_REPEATED: 'repeated'}


def type_str(f):
    if f.type in (FD.TYPE_MESSAGE, FD.TYPE_ENUM):
        return f.type_name.lstrip('.')
    return FD.Type.Name(f.type)[len('TYPE_'):].lower()


def compile_set(protoc, include_dirs, files, out):
    """Run protoc on `files`; return the parsed FileDescriptorSet."""
    cmd = [protoc]
    for d in include_dirs:
        cmd.append('-I' + d)
    cmd += ['--include_imports', '--descriptor_set_out=' + out] + files
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    if res.returncode != 0:
        raise RuntimeError('protoc failed: %s\n%s' % (' '.join(cmd), res.stderr))
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, 'rb') as fh:
        fds.ParseFromString(fh.read())
    return fds


def index(fds):
    """Map full names to (file name, descriptor) for messages and enums,
    and collect services' methods."""
    msgs, enums, methods = {}, {}, {}

    def walk(prefix, fname, m):
        full = prefix + '.' + m.name
        msgs[full] = (fname, m)
        for e in m.enum_type:
            enums[full + '.' + e.name] = (fname, e)
        for n in m.nested_type:
            walk(full, fname, n)

    for f in fds.file:
        for m in f.message_type:
            walk(f.package, f.name, m)
        for e in f.enum_type:
            enums[f.package + '.' + e.name] = (f.name, e)
        for s in f.service:
            sname = f.package + '.' + s.name
            methods[sname] = {mt.name: mt for mt in s.method}
    return msgs, enums, methods


def field_attrs(f):
    return {
        'name': f.name,
        'type': type_str(f),
        'label': LABEL[f.label],
        'default': f.default_value if f.HasField('default_value') else None,
        'packed': bool(f.options.packed),
    }


def compare(ours, ref):
    """Return (differences, notes, counts)."""
    diffs, notes = [], []
    o_msgs, o_enums, o_methods = index(ours)
    r_msgs, r_enums, r_methods = index(ref)
    counts = {'msgs': 0, 'enums': 0, 'rpcs': 0, 'new_msgs': 0, 'new_rpcs': 0}

    for full in sorted(o_msgs):
        fname, om = o_msgs[full]
        if full not in r_msgs:
            if not om.options.map_entry:
                counts['new_msgs'] += 1
                notes.append('%s: not in the reference (newer Hadoop)' % full)
            continue
        counts['msgs'] += 1
        rm = r_msgs[full][1]
        o_by_num = {f.number: f for f in om.field}
        r_by_num = {f.number: f for f in rm.field}
        for num in sorted(set(o_by_num) | set(r_by_num)):
            of, rf = o_by_num.get(num), r_by_num.get(num)
            if rf is None:
                notes.append('%s: field %s = %d not in the reference (newer Hadoop)'
                             % (full, of.name, num))
                continue
            if of is None:
                diffs.append('%s: field %s = %d missing from ours' % (full, rf.name, num))
                continue
            oa, ra = field_attrs(of), field_attrs(rf)
            for key in ('name', 'type', 'label', 'default', 'packed'):
                if oa[key] == ra[key]:
                    continue
                if (key == 'label' and ra[key] == 'required' and oa[key] == 'optional'
                        and full + '.' + rf.name in RELAXED_TO_OPTIONAL):
                    notes.append('%s.%s: optional here, required in the reference '
                                 '(relaxed in newer Hadoop)' % (full, rf.name))
                    continue
                diffs.append('%s: field %d %s differs: ours %r, reference %r'
                             % (full, num, key, oa[key], ra[key]))

    for full in sorted(o_enums):
        oe = o_enums[full][1]
        if full not in r_enums:
            notes.append('enum %s: not in the reference (newer Hadoop)' % full)
            continue
        counts['enums'] += 1
        re_ = r_enums[full][1]
        o_vals = {v.name: v.number for v in oe.value}
        r_vals = {v.name: v.number for v in re_.value}
        for name in sorted(set(o_vals) | set(r_vals)):
            if name not in r_vals:
                notes.append('enum %s: value %s = %d not in the reference (newer Hadoop)'
                             % (full, name, o_vals[name]))
            elif name not in o_vals:
                diffs.append('enum %s: value %s = %d missing from ours'
                             % (full, name, r_vals[name]))
            elif o_vals[name] != r_vals[name]:
                diffs.append('enum %s: value %s differs: ours %d, reference %d'
                             % (full, name, o_vals[name], r_vals[name]))

    # Reference messages we lack, in files we mirror in full.
    our_files = {fname for fname, _ in o_msgs.values()}
    for full in sorted(r_msgs):
        fname, rm = r_msgs[full]
        if fname in our_files and fname not in PARTIAL_FILES and full not in o_msgs:
            diffs.append('%s (%s): missing from ours' % (full, fname))

    o_rpcs = o_methods.get(SERVICE, {})
    r_rpcs = r_methods.get(SERVICE, {})
    if not r_rpcs:
        diffs.append('%s: no such service in the reference' % SERVICE)
    for name in sorted(set(o_rpcs) | set(r_rpcs)):
        om, rm = o_rpcs.get(name), r_rpcs.get(name)
        if rm is None:
            counts['new_rpcs'] += 1
            notes.append('rpc %s: not in the reference (newer Hadoop)' % name)
            continue
        if om is None:
            diffs.append('rpc %s: missing from ours' % name)
            continue
        counts['rpcs'] += 1
        for attr in ('input_type', 'output_type'):
            if getattr(om, attr) != getattr(rm, attr):
                diffs.append('rpc %s: %s differs: ours %s, reference %s'
                             % (name, attr, getattr(om, attr).lstrip('.'),
                                getattr(rm, attr).lstrip('.')))
    return diffs, notes, counts


def proto_dirs(root):
    """Every directory under root holding .proto files (include paths)."""
    dirs = []
    for d, _, files in os.walk(root):
        if any(x.endswith('.proto') for x in files):
            dirs.append(d)
    return sorted(dirs)


def run_check(protoc, ours_dir, ref_dir, tmp):
    ours_files = sorted(glob.glob(os.path.join(ours_dir, '*.proto')))
    if not ours_files:
        raise RuntimeError('no .proto files in %s' % ours_dir)
    ours = compile_set(protoc, [ours_dir], ours_files, os.path.join(tmp, 'ours.pb'))

    ref_dirs = proto_dirs(ref_dir)
    ref_files = []
    for base in (os.path.basename(p) for p in ours_files):
        for d in ref_dirs:
            cand = os.path.join(d, base)
            if os.path.exists(cand):
                ref_files.append(cand)
                break
    if not ref_files:
        raise RuntimeError('no matching .proto files under %s' % ref_dir)
    ref = compile_set(protoc, ref_dirs, ref_files, os.path.join(tmp, 'ref.pb'))
    return compare(ours, ref)


def report(diffs, notes, counts, verbose):
    if verbose:
        for n in notes:
            print('note: ' + n)
    for d in diffs:
        print(d)
    print('checked %d messages, %d enums, %d rpcs: %d differences '
          '(%d messages and %d rpcs of ours not in the reference)'
          % (counts['msgs'], counts['enums'], counts['rpcs'], len(diffs),
             counts['new_msgs'], counts['new_rpcs']))


def mutate(path, message, field, new_number):
    """Change one field number inside one message of a copied .proto file."""
    with open(path) as fh:
        text = fh.read()
    m = re.search(r'message %s \{(.*?)\n\}' % re.escape(message), text, re.S)
    if not m:
        raise RuntimeError('self-test: message %s not found in %s' % (message, path))
    body = m.group(1)
    new_body, n = re.subn(r'(\b%s\s*=\s*)\d+' % re.escape(field),
                          r'\g<1>%d' % new_number, body, count=1)
    if n != 1:
        raise RuntimeError('self-test: field %s not found in %s' % (field, message))
    with open(path, 'w') as fh:
        fh.write(text[:m.start(1)] + new_body + text[m.end(1):])


def self_test(protoc, ours_dir, ref_dir, tmp):
    """Prove the check fails on a corrupted copy of our files."""
    cases = [
        # (file, message, field, new number, text the report must contain)
        ('ClientNamenodeProtocol.proto', 'GetFileInfoRequestProto', 'src', 7,
         'hadoop.hdfs.GetFileInfoRequestProto: field src = 1 missing from ours'),
        ('hdfs.proto', 'ExtendedBlockProto', 'poolId', 9,
         'hadoop.hdfs.ExtendedBlockProto: field poolId = 1 missing from ours'),
    ]
    ok = True
    for i, (fname, msg, field, num, expect) in enumerate(cases):
        work = os.path.join(tmp, 'mut%d' % i)
        shutil.copytree(ours_dir, work)
        mutate(os.path.join(work, fname), msg, field, num)
        pbdir = os.path.join(tmp, 'pb%d' % i)
        os.makedirs(pbdir)
        diffs, _, _ = run_check(protoc, work, ref_dir, pbdir)
        caught = expect in diffs
        print('self-test: %s.%s = %d -> %d differences, %s'
              % (msg, field, num, len(diffs), 'caught' if caught else 'NOT CAUGHT'))
        ok = ok and caught and len(diffs) > 0
    print('self-test: %s' % ('passed' if ok else 'FAILED'))
    return 0 if ok else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--ours', default=os.path.join(here, '..', '..', 'hdfs-proto', 'proto'),
                    help='directory with our .proto files')
    ap.add_argument('--ref', default=DEFAULT_REF,
                    help="root of Hadoop's .proto files (searched recursively)")
    ap.add_argument('--protoc', default=shutil.which('protoc') or 'protoc')
    ap.add_argument('--self-test', action='store_true',
                    help='mutate a copy of our files and check that it is caught')
    ap.add_argument('-q', '--quiet', action='store_true', help='omit notes')
    args = ap.parse_args()

    if not os.path.isdir(args.ours):
        print('--ours: no such directory: %s' % args.ours, file=sys.stderr)
        return 2
    if not os.path.isdir(args.ref):
        print('--ref: no such directory: %s (skipping)' % args.ref, file=sys.stderr)
        return 77
    tmp = tempfile.mkdtemp(prefix='check_protos.')
    try:
        if args.self_test:
            return self_test(args.protoc, args.ours, args.ref, tmp)
        diffs, notes, counts = run_check(args.protoc, args.ours, args.ref, tmp)
        report(diffs, notes, counts, not args.quiet)
        return 1 if diffs else 0
    except (RuntimeError, OSError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
