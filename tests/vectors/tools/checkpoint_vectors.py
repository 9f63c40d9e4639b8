#!/usr/bin/env python3
"""Generates tests/vectors/checkpoint_v1.vec: Ed25519 (RFC 8032), C2SP signed notes and
tlog-checkpoints, independently of the C++ code.

Ed25519 is written out from RFC 8032 §5.1 with Python integers and hashlib (slow, not constant
time: for test vectors only). Before writing anything the script checks itself against RFC 8032
§7.1 tests 1-3 and against the signed note published in golang.org/x/mod/sumdb/note's
documentation, so the vectors agree with two outside implementations. Run from the repo root:

    python3 tests/vectors/tools/checkpoint_vectors.py > tests/vectors/checkpoint_v1.vec
"""
import base64
import hashlib

# ---- Ed25519, RFC 8032 §5.1 ---------------------------------------------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _encode(pt):
    x, y, z, _ = pt
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _recover_x(y, sign):
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if x & 1 != sign:
        x = P - x
    return x


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
G = (_GX, _GY, 1, _GX * _GY % P)


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    return _encode(_mul(_expand(seed)[0], G))


def sign(seed, msg):
    a, prefix = _expand(seed)
    pub = _encode(_mul(a, G))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % L
    rs = _encode(_mul(r, G))
    k = int.from_bytes(hashlib.sha512(rs + pub + msg).digest(), "little") % L
    return rs + ((r + k * a) % L).to_bytes(32, "little")


RFC8032 = [  # RFC 8032 §7.1 TEST 1, 2, 3: seed, public key, message, signature
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]

# ---- C2SP signed note ---------------------------------------------------------------------
EM_DASH = "\u2014"


def key_id(name, pub):
    return hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]


def verifier_key(name, pub):
    return "%s+%s+%s" % (name, key_id(name, pub).hex(), base64.b64encode(b"\x01" + pub).decode())


def sig_line(name, blob):
    return "%s %s %s\n" % (EM_DASH, name, base64.b64encode(blob).decode())


def sign_note(text, seed, name):
    pub = public_key(seed)
    return text + "\n" + sig_line(name, key_id(name, pub) + sign(seed, text.encode()))


# golang.org/x/mod/sumdb/note documentation example ("PeterNeumann").
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + "\n" + EM_DASH + " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
GO_SEED = base64.b64decode(GO_SIGNER.split("+", 4)[4])[1:]


def record(**kv):
    print("\n".join("%s = %s" % (k, v) for k, v in kv.items()) + "\n")


def hx(s):
    return (s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s).hex()


def main():
    for seed, pub, msg, sig in RFC8032:
        s = bytes.fromhex(seed)
        assert public_key(s).hex() == pub
        assert sign(s, bytes.fromhex(msg)).hex() == sig
    assert verifier_key("PeterNeumann", public_key(GO_SEED)) == GO_VERIFIER
    assert sign_note(GO_TEXT, GO_SEED, "PeterNeumann") == GO_NOTE

    print("# Ed25519 (RFC 8032), C2SP signed-note and C2SP tlog-checkpoint known answers, generated")
    print("# by tools/checkpoint_vectors.py (a from-the-RFC Python Ed25519, checked against RFC 8032")
    print("# §7.1 and the Go sumdb/note example). Do not edit by hand; rerun the script.")
    print("#")
    print("# kind = ed25519       seed, public, message, signature -> verify")
    print("# kind = note          verifier_key, note (hex) [, text, seed] -> open_note")
    print("# kind = verifier_key  text (hex) -> parse_verifier_key")
    print("# kind = checkpoint    key_name, seed, origin (expected), note (hex) [, size, root,")
    print("#                      extensions (comma-separated hex)] -> verify_checkpoint; for `ok`")
    print("#                      records sign_checkpoint must reproduce `note` byte for byte")
    print("# expect = ok | bad_signature | malformed | authentication_failed")
    print()

    for n, (seed, pub, msg, sig) in enumerate(RFC8032, 1):
        record(name="rfc8032-test-%d" % n, kind="ed25519", seed=seed, public=pub, message=msg,
               signature=sig, expect="ok")
    seed, pub, msg, sig = RFC8032[1]
    bad = bytearray.fromhex(sig)
    bad[5] ^= 0x10
    record(name="neg-ed25519-signature-bit-flipped", kind="ed25519", seed=seed, public=pub,
           message=msg, signature=bad.hex(), expect="bad_signature")
    record(name="neg-ed25519-message-changed", kind="ed25519", seed=seed, public=pub,
           message="73", signature=sig, expect="bad_signature")
    record(name="neg-ed25519-wrong-public-key", kind="ed25519", seed=seed,
           public=RFC8032[2][1], message=msg, signature=sig, expect="bad_signature")
    s_val = int.from_bytes(bytes.fromhex(sig)[32:], "little") + L  # same value mod L: malleated
    record(name="neg-ed25519-non-canonical-s", kind="ed25519", seed=seed, public=pub, message=msg,
           signature=sig[:64] + s_val.to_bytes(32, "little").hex(), expect="bad_signature")

    record(name="go-sumdb-note-example", kind="note", verifier_key=GO_VERIFIER, note=hx(GO_NOTE),
           text=hx(GO_TEXT), seed=GO_SEED.hex(), expect="ok")
    record(name="neg-go-note-text-changed", kind="note", verifier_key=GO_VERIFIER,
           note=hx(GO_NOTE.replace("cryptography", "cryptographY")), expect="bad_signature")

    record(name="verifier-key-go", kind="verifier_key", text=hx(GO_VERIFIER), expect="ok")
    gv_name, gv_id, gv_key = GO_VERIFIER.split("+", 2)
    for name, text in [
        ("neg-verifier-key-wrong-id", "PeterNeumann+c74f20a4+" + gv_key),
        ("neg-verifier-key-uppercase-id", "PeterNeumann+C74F20A3+" + gv_key),
        ("neg-verifier-key-short-id", "PeterNeumann+74f20a3+" + gv_key),
        ("neg-verifier-key-other-name", "PeterNeumanm+c74f20a3+" + gv_key),
        ("neg-verifier-key-missing-part", "PeterNeumann+c74f20a3"),
        ("neg-verifier-key-wrong-type", "PeterNeumann+c74f20a3+" +
         base64.b64encode(b"\x02" + base64.b64decode(gv_key)[1:]).decode()),
        ("neg-verifier-key-short-key", "PeterNeumann+c74f20a3+" +
         base64.b64encode(base64.b64decode(gv_key)[:-1]).decode()),
        ("neg-verifier-key-empty-name", "+c74f20a3+" + gv_key),
        ("neg-verifier-key-trailing-space", GO_VERIFIER + " "),
    ]:
        record(name=name, kind="verifier_key", text=hx(text), expect="malformed")

    # Checkpoints: the log key is derived from a fixed seed; a second key plays a witness.
    log_seed = hashlib.sha256(b"sluis test vector: audit log key").digest()
    wit_seed = hashlib.sha256(b"sluis test vector: witness key").digest()
    other_seed = hashlib.sha256(b"sluis test vector: another log key").digest()
    origin = "sluis.example/audit"
    name = origin
    root = hashlib.sha256(b"").digest()
    root8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    b64 = lambda b: base64.b64encode(b).decode()

    def body(o, size, r, ext=()):
        return "%s\n%s\n%s\n" % (o, size, b64(r) if isinstance(r, bytes) else r) + \
            "".join(e + "\n" for e in ext)

    def cp(rname, note, expect, **extra):
        fields = dict(name=rname, kind="checkpoint", key_name=name, seed=log_seed.hex(),
                      origin=origin, note=hx(note))
        fields.update(extra)
        fields["expect"] = expect
        record(**fields)

    def ok(rname, size, r, ext=()):
        note = sign_note(body(origin, size, r, ext), log_seed, name)
        cp(rname, note, "ok", size=size, root=r.hex(), extensions=",".join(hx(e) for e in ext))
        return note

    good = ok("checkpoint-size-8", 8, root8)
    ok("checkpoint-empty-tree", 0, root)
    ok("checkpoint-max-size", 2**64 - 1, root8)
    ok("checkpoint-with-extensions", 8, root8, ("— ext one", "ext two"))

    wit_pub = public_key(wit_seed)
    text8 = body(origin, 8, root8)
    wit_line = sig_line("witness.example", key_id("witness.example", wit_pub) +
                        sign(wit_seed, text8.encode()))
    cp("checkpoint-cosigned-by-unknown-witness", good + wit_line, "ok", size=8, root=root8.hex(),
       extensions="")
    cp("checkpoint-witness-line-first", text8 + "\n" + wit_line + good[len(text8) + 1:], "ok",
       size=8, root=root8.hex(), extensions="")

    # Signature problems.
    cp("neg-checkpoint-signed-by-other-key", sign_note(text8, other_seed, name), "bad_signature")
    cp("neg-checkpoint-only-unknown-signer", text8 + "\n" + wit_line, "bad_signature")
    cp("neg-checkpoint-size-tampered", good.replace("\n8\n", "\n9\n", 1), "bad_signature")
    cp("neg-checkpoint-root-tampered", good.replace(b64(root8), b64(root8[:-1] + b"\x29"), 1),
       "bad_signature")
    cp("neg-checkpoint-origin-tampered", good.replace(origin + "\n", origin + "x\n", 1),
       "bad_signature")
    cp("neg-checkpoint-same-key-twice", good + good[len(text8) + 1:], "bad_signature")
    forged = text8 + "\n" + sig_line(name, key_id(name, public_key(log_seed)) +
                                     sign(other_seed, text8.encode()))
    cp("neg-checkpoint-right-key-id-wrong-signature", forged, "bad_signature")
    cp("neg-checkpoint-signature-truncated", text8 + "\n" + sig_line(
        name, key_id(name, public_key(log_seed)) + sign(log_seed, text8.encode())[:-1]),
       "bad_signature")
    # Valid signature, wrong log.
    other_origin_note = sign_note(body("other.example/log", 8, root8), log_seed, name)
    cp("neg-checkpoint-wrong-origin", other_origin_note, "authentication_failed")

    # Note syntax.
    cp("neg-checkpoint-missing-signature", text8 + "\n", "malformed")
    cp("neg-checkpoint-no-blank-line", text8 + good[len(text8) + 1:], "malformed")
    cp("neg-checkpoint-crlf", good.replace("\n", "\r\n"), "malformed")
    cp("neg-checkpoint-trailing-data", good + "x", "malformed")
    cp("neg-checkpoint-trailing-line", good + "trailing\n", "malformed")
    cp("neg-checkpoint-trailing-blank-line", good + "\n", "malformed")
    cp("neg-checkpoint-no-final-newline", good[:-1], "malformed")
    cp("neg-checkpoint-hyphen-not-em-dash", good.replace(EM_DASH, "-"), "malformed")
    cp("neg-checkpoint-signature-space-in-base64", good[:-5] + " " + good[-5:], "malformed")
    sig_b64 = good.rsplit(" ", 1)[1].strip()
    assert sig_b64.endswith("=")
    cp("neg-checkpoint-signature-base64-unpadded", good[:-2] + "\n", "malformed")
    cp("neg-checkpoint-two-spaces", good.replace(EM_DASH + " ", EM_DASH + "  "), "malformed")
    cp("neg-checkpoint-nul-byte", good.replace("audit", "au\x00dit", 1), "malformed")
    cp("neg-checkpoint-invalid-utf8", good.replace("audit", "au\udcffdit", 1), "malformed")

    # Body syntax, validly signed: the parser must still refuse it.
    def signed(rname, text, expect="malformed"):
        cp(rname, sign_note(text, log_seed, name), expect)

    signed("neg-checkpoint-size-leading-zero", body(origin, "08", root8))
    signed("neg-checkpoint-size-plus-sign", body(origin, "+8", root8))
    signed("neg-checkpoint-size-negative", body(origin, "-1", root8))
    signed("neg-checkpoint-size-overflow", body(origin, str(2**64), root8))
    signed("neg-checkpoint-size-hex", body(origin, "0x8", root8))
    signed("neg-checkpoint-size-space", body(origin, "8 ", root8))
    signed("neg-checkpoint-size-empty", body(origin, "", root8))
    signed("neg-checkpoint-root-31-bytes", body(origin, 8, root8[:31]))
    signed("neg-checkpoint-root-33-bytes", body(origin, 8, root8 + b"\x00"))
    signed("neg-checkpoint-root-hex", body(origin, 8, root8.hex()))
    # Setting a padding bit of the last base64 digit keeps the decoded bytes (lenient decoders
    # accept it) but is not the canonical spelling.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    canon = b64(root8)
    loose = canon[:-2] + alphabet[alphabet.index(canon[-2]) | 1] + "="
    assert loose != canon and base64.b64decode(loose) == root8
    signed("neg-checkpoint-root-non-canonical-base64", body(origin, 8, loose))
    signed("neg-checkpoint-root-urlsafe-base64",
           body(origin, 8, base64.urlsafe_b64encode(bytes([0xfb] * 32)).decode()))
    signed("neg-checkpoint-two-lines", "%s\n8\n" % origin)
    signed("neg-checkpoint-empty-origin", body("", 8, root8))
    signed("neg-checkpoint-empty-extension-line", body(origin, 8, root8) + "\next\n")
    signed("neg-checkpoint-tab-in-origin", body(origin + "\t", 8, root8))


if __name__ == "__main__":
    main()
