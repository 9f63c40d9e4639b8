#!/usr/bin/env python3
"""Independent reference for sluis field/key vectors: HChaCha20 written here from
draft-irtf-cfrg-xchacha-03 §2.2, ChaCha20-Poly1305 from OpenSSL (python 'cryptography'),
crypto_kdf as BLAKE2b from Python's hashlib. Shares no code with sluis or libsodium."""
import hashlib, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

def rotl(v, c): return ((v << c) & 0xffffffff) | (v >> (32 - c))
def qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)

def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
    s += list(struct.unpack('<8I', key)) + list(struct.unpack('<4I', nonce16))
    for _ in range(10):
        qr(s, 0, 4, 8, 12); qr(s, 1, 5, 9, 13); qr(s, 2, 6, 10, 14); qr(s, 3, 7, 11, 15)
        qr(s, 0, 5, 10, 15); qr(s, 1, 6, 11, 12); qr(s, 2, 7, 8, 13); qr(s, 3, 4, 9, 14)
    return struct.pack('<8I', *(s[0:4] + s[12:16]))

def xchacha_seal(key, nonce24, pt, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b'\0\0\0\0' + nonce24[16:], pt, ad)

def kdf(root, subkey_id, ctx=b'sluis-v1'):
    return hashlib.blake2b(b'', digest_size=32, key=root, salt=struct.pack('<Q', subkey_id) + b'\0' * 8,
                           person=ctx + b'\0' * 8).digest()

def selftest():
    h = hchacha20(bytes(range(32)), bytes.fromhex('000000090000004a0000000031415927'))
    assert h.hex() == '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc', h.hex()
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
          b"future, sunscreen would be it.")
    ct = xchacha_seal(bytes(range(0x80, 0xa0)), bytes(range(0x40, 0x58)), pt,
                      bytes.fromhex('50515253c0c1c2c3c4c5c6c7'))
    assert ct[-16:].hex() == 'c0875924c1c7987947deafd8780acf49', ct[-16:].hex()
    assert ct.hex().startswith('bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb'), ct.hex()

def lp(b): return bytes([len(b)]) + b
def u32(v): return struct.pack('>I', v)

def field_ad(fragment, name, category, client, version):
    return lp(b'sluis/field/v1') + b'\x01' + fragment + lp(name) + lp(category) + client + u32(version)

def field_seal(key, nonce, fragment, name, category, client, version, pt):
    ad = field_ad(fragment, name, category, client, version)
    return b'\x01' + u32(version) + nonce + xchacha_seal(key, nonce, pt, ad), ad

def kek_wrap(wrapping, nonce, kek, version):
    return b'\x01' + nonce + xchacha_seal(wrapping, nonce, kek, b'sluis/kek/v1' + u32(version))

def dek_wrap(kek, kek_version, nonce, client, category, dk_version, dk):
    ad = b'sluis/dek/v1' + client + lp(category) + u32(dk_version) + u32(kek_version)
    return b'\x01' + nonce + xchacha_seal(kek, nonce, dk, ad)

if __name__ == '__main__':
    selftest()
    print('selftest ok (HChaCha20 and XChaCha20-Poly1305 draft-irtf-cfrg-xchacha-03 vectors)')
