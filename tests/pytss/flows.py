#!/usr/bin/python3
"""tpm2-pytss (Debian python3-tpm2-pytss) driving a TPM over mssim: startup, getrandom, PCR
extend/read/reset, hash and hash sequences, an HMAC session with parameter encryption. Expected values come from Python's hashlib, never from
the TPM.

Usage: flows.py PORT            (mssim on 127.0.0.1:PORT, platform port PORT+1)
       flows.py TCTI:CONFIG     (any TCTI, e.g. swtpm:port=2321, to compare with another TPM)
Run by tests/tests/vtpm_tools.rs (pytss_flows) against `cargo xtask tpm-server`.
"""

import hashlib
import sys

from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RC, TPM2_SE, TPM2_SU, TPMA_SESSION
from tpm2_pytss.types import (
    TPML_DIGEST_VALUES,
    TPMT_HA,
    TPMT_SYM_DEF,
    TPMU_HA,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
)


def connect(argument):
    if argument.isdigit():
        return TCTILdr("mssim", f"host=127.0.0.1,port={argument}")
    name, _, config = argument.partition(":")
    return TCTILdr(name, config)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def startup(esys):
    try:
        esys.startup(TPM2_SU.CLEAR)
    except TSS2_Exception as error:
        # A TPM some earlier client started already answers TPM_RC_INITIALIZE.
        check(error.rc == TPM2_RC.INITIALIZE, f"startup failed: {error}")


def getrandom(esys):
    draws = []
    for size in (1, 16, 32, 48):
        random = bytes(esys.get_random(size))
        check(len(random) == size, f"get_random({size}) returned {len(random)} bytes")
        draws.append(random)
    check(bytes(esys.get_random(32)) != draws[2], "two 32-byte draws are equal")


def pcr_value(esys, selection):
    _, _, digests = esys.pcr_read(selection)
    check(len(digests) == 1, f"pcr_read({selection}) returned {len(digests)} digests")
    return bytes(digests[0])


def digest_values(sha256, sha384):
    return TPML_DIGEST_VALUES(
        [
            TPMT_HA(hashAlg=TPM2_ALG.SHA256, digest=TPMU_HA(sha256=sha256)),
            TPMT_HA(hashAlg=TPM2_ALG.SHA384, digest=TPMU_HA(sha384=sha384)),
        ]
    )


def pcr_extend_read_reset(esys):
    esys.pcr_reset(ESYS_TR.PCR16)
    before256 = pcr_value(esys, "sha256:16")
    before384 = pcr_value(esys, "sha384:16")
    check(before256 == bytes(32) and before384 == bytes(48), "PCR16 is not zero after a reset")

    event256 = hashlib.sha256(b"pytss event").digest()
    event384 = hashlib.sha384(b"pytss event").digest()
    esys.pcr_extend(ESYS_TR.PCR16, digest_values(event256, event384))
    expected256 = hashlib.sha256(before256 + event256).digest()
    expected384 = hashlib.sha384(before384 + event384).digest()
    check(pcr_value(esys, "sha256:16") == expected256, "sha256 PCR16 differs from hashlib")
    check(pcr_value(esys, "sha384:16") == expected384, "sha384 PCR16 differs from hashlib")

    esys.pcr_reset(ESYS_TR.PCR16)
    check(pcr_value(esys, "sha256:16") == bytes(32), "PCR16 is not zero after a reset")


def hashes(esys):
    for algorithm, oracle in ((TPM2_ALG.SHA256, hashlib.sha256), (TPM2_ALG.SHA384, hashlib.sha384)):
        for size in (0, 1, 64, 1024):
            data = bytes((i * 13 + size) & 0xFF for i in range(size))
            digest, _ = esys.hash(data, algorithm, ESYS_TR.NULL)
            check(bytes(digest) == oracle(data).digest(), f"hash of {size} bytes ({oracle().name})")

        # A sequence: three updates of up to 1024 bytes, then the last part with the completion.
        data = bytes((i * 31) & 0xFF for i in range(3500))
        sequence = esys.hash_sequence_start(b"", algorithm)
        for offset in range(0, 3072, 1024):
            esys.sequence_update(sequence, data[offset:offset + 1024])
        digest, _ = esys.sequence_complete(sequence, data[3072:], ESYS_TR.NULL)
        check(bytes(digest) == oracle(data).digest(), f"hash sequence ({oracle().name})")


def encrypted_session(esys):
    """An unsalted, unbound HMAC session with AES-128-CFB parameter encryption both ways: the
    command's first TPM2B goes encrypted (the TPM must decrypt it before hashing), the response's
    first TPM2B comes back encrypted (ESAPI decrypts it). Either half done wrong gives a digest
    that differs from hashlib's."""
    symmetric = TPMT_SYM_DEF(
        algorithm=TPM2_ALG.AES, keyBits=TPMU_SYM_KEY_BITS(aes=128), mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB)
    )
    session = esys.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, symmetric, TPM2_ALG.SHA256)
    attributes = TPMA_SESSION.CONTINUESESSION | TPMA_SESSION.DECRYPT | TPMA_SESSION.ENCRYPT
    esys.trsess_set_attributes(session, attributes)
    for size in (1, 100, 1024):
        data = bytes((i * 5 + size) & 0xFF for i in range(size))
        digest, _ = esys.hash(data, TPM2_ALG.SHA256, ESYS_TR.NULL, session1=session)
        check(bytes(digest) == hashlib.sha256(data).digest(), f"hash of {size} bytes, encrypted both ways")
    check(len(bytes(esys.get_random(32, session1=session))) == 32, "encrypted get_random size")

    # The same session as an HMAC authorization of PCR 16 (empty authValue).
    esys.trsess_set_attributes(session, TPMA_SESSION.CONTINUESESSION)
    esys.pcr_reset(ESYS_TR.PCR16, session1=session)
    event256 = hashlib.sha256(b"hmac-authorized").digest()
    event384 = hashlib.sha384(b"hmac-authorized").digest()
    esys.pcr_extend(ESYS_TR.PCR16, digest_values(event256, event384), session1=session)
    check(pcr_value(esys, "sha256:16") == hashlib.sha256(bytes(32) + event256).digest(), "HMAC extend")
    esys.flush_context(session)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with ESAPI(connect(sys.argv[1])) as esys:
        for flow in (startup, getrandom, pcr_extend_read_reset, hashes, encrypted_session):
            flow(esys)
            print(f"{flow.__name__}: ok")
    print("pytss flows: all passed")


if __name__ == "__main__":
    main()
