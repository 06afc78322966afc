#!/usr/bin/python3
"""tpm2-pytss (Debian python3-tpm2-pytss) driving a TPM over mssim: startup, getrandom, PCR
extend/read/reset, hash and hash sequences. Expected values come from Python's hashlib, never from
the TPM.

Usage: flows.py PORT            (mssim on 127.0.0.1:PORT, platform port PORT+1)
       flows.py TCTI:CONFIG     (any TCTI, e.g. swtpm:port=2321, to compare with another TPM)
Run by tests/tests/vtpm_tools.rs (pytss_flows) against `cargo xtask tpm-server`.
"""

import hashlib
import sys

from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RC, TPM2_SU
from tpm2_pytss.types import TPML_DIGEST_VALUES, TPMT_HA, TPMU_HA


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


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with ESAPI(connect(sys.argv[1])) as esys:
        for flow in (startup, getrandom, pcr_extend_read_reset, hashes):
            flow(esys)
            print(f"{flow.__name__}: ok")
    print("pytss flows: all passed")


if __name__ == "__main__":
    main()
