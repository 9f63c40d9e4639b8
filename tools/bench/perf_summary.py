#!/usr/bin/env python3
# Where sluisd's CPU samples go, from `perf script` text: by library, thread role and named frames.
#
#   perf record -F 499 --call-graph dwarf,16384 -p "$(pidof sluisd)" -o perf.data -- sleep 6
#   perf script -i perf.data -F comm,tid,period,ip,sym,dso > perf.txt
#   tools/bench/perf_summary.py perf.txt
#
# Percentages are of all samples. "Self" attributes a sample to the library of its leaf frame
# (perf's "(inlined)" frames are libc's string and syscall wrappers); the categories are inclusive:
# a sample counts for every category one of its frames names (so they overlap). Debian's
# SQLCipher has no symbols: its time shows under its callers. Used for docs/performance.md.
import sys, re, collections
samples = []
cur = None
for line in open(sys.argv[1], errors='replace'):
    if line and not line[0].isspace():
        if cur is not None: samples.append(cur)
        parts = line.split()
        cur = {'comm': parts[0], 'tid': parts[1], 'frames': []}
    elif line.strip():
        m = re.match(r'\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$', line)
        if m: cur['frames'].append((m.group(2), m.group(3)))
if cur is not None: samples.append(cur)
N = len(samples)
def pct(n): return f"{100.0*n/N:5.1f} %"
print(f"samples: {N}")
# leaf dso
leaf = collections.Counter()
for s in samples:
    if not s['frames']: leaf['?'] += 1; continue
    sym, dso = s['frames'][0]
    d = dso.split('/')[-1]
    if 'kernel' in d: d = 'kernel'
    elif d.startswith('libc.so') or d == 'inlined': d = 'libc'
    elif 'sqlcipher' in d: d = 'SQLCipher'
    elif 'libcrypto' in d: d = 'libcrypto'
    elif 'libssl' in d: d = 'libssl'
    elif 'sodium' in d: d = 'libsodium'
    elif 'stdc++' in d: d = 'libstdc++'
    elif 'sluisd' in d: d = 'sluisd'
    leaf[d] += 1
print("\n## self time by library (leaf frame)")
for k, v in leaf.most_common(): print(f"| {k} | {pct(v)} |")
def has(s, *names):
    return any(any(n in f[0] for n in names) for f in s['frames'])
print("\n## by what the thread was doing")
roles = collections.Counter()
for s in samples:
    if has(s, 'writer_loop'): r = 'audit writer thread (group commit)'
    elif has(s, 'run_handler', 'Router::dispatch'): r = 'request handler (api, domain, store)'
    elif has(s, 'boost::asio', 'boost::beast'): r = 'transport (Asio, Beast, TLS, sockets)'
    else: r = 'other'
    roles[r] += 1
for k, v in roles.most_common(): print(f"| {k} | {pct(v)} |")
# categories (inclusive, any frame)
cats = [
  ('malloc/free (libc)', ('malloc', '_int_free', 'cfree', 'free', 'realloc', 'malloc_consolidate', 'unlink_chunk', 'operator new', 'operator delete')),
  ('futex: thread wake/wait (mutexes, condvars)', ('futex', '__lll_lock', 'pthread_cond', 'lll_lock')),
  ('context switch (kernel __schedule)', ('__schedule', 'finish_task_switch')),
  ('fcntl (SQLite file locks)', ('fcntl',)),
  ('fdatasync/fsync', ('fdatasync', 'fsync')),
  ('pread/pwrite (SQLite pages)', ('pread', 'pwrite')),
  ('socket send/recv', ('sendmsg', 'recvmsg', '__libc_send', '__libc_recv', 'tcp_sendmsg', 'tcp_recvmsg', 'sock_write_iter', 'sock_read_iter')),
  ('epoll', ('epoll',)),
  ('log write(2)', ('write_fd',)),
  ('SQLCipher page codec', ('sqlite3Codec', 'sqlcipher_page_cipher')),
  ('sqlite3_step (all)', ('sqlite3_step',)),
  ('field open (open_field)', ('open_field',)),
  ('libsodium (any)', ()),
  ('TLS (SSL_read/SSL_write/handshake)', ('SSL_read', 'SSL_write', 'ssl3_', 'tls13_', 'SSL_do_handshake', 'ssl_write', 'ssl_read')),
  ('Beast HTTP parse', ('basic_parser',)),
  ('response write path (TLS encrypt + send)', ('serializer', 'write_some_op', 'write_op')),
  ('Router::dispatch (handler incl.)', ('Router::dispatch',)),
  ('api::read_dossier', ('api::read_dossier',)),
  ('open_fragments', ('open_fragments',)),
  ('list_current_sealed', ('list_current_sealed',)),
  ('consents (ConsentBook / parse)', ('ConsentBook', 'parse_consent', 'consent_from')),
  ('care relationships', ('relationship', 'Relationship')),
  ('data keys (cached_data_key)', ('cached_data_key',)),
  ('audit append (request side)', ('AuditLog::append', 'audit_events_for_read')),
  ('JSON answer', ('append_json_string', 'dossier_json', 'render_dossier', 'answer')),
  ('request log line', ('LogSink::request',)),
  ('metrics record_request', ('record_request',)),
  ('build_request/parse_target', ('build_request', 'parse_target')),
  ('std::mutex lock (pthread_mutex)', ('pthread_mutex_lock', 'pthread_mutex_unlock')),
]
print("\n## inclusive categories (a sample counts once per category)")
for name, keys in cats:
    if name == 'libsodium (any)':
        n = sum(1 for s in samples if any('sodium' in f[1] for f in s['frames']))
    else:
        n = sum(1 for s in samples if has(s, *keys))
    print(f"| {name} | {pct(n)} |")
# kernel: by syscall entry user function
print("\n## kernel self time by the user function that entered it")
kc = collections.Counter()
for s in samples:
    fr = s['frames']
    if not fr or 'kernel' not in fr[0][1]: continue
    u = next((f[0] for f in fr if 'kernel' not in f[1]), '?')
    kc[u] += 1
for k, v in kc.most_common(15): print(f"| {k} | {pct(v)} |")
