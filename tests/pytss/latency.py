#!/usr/bin/python3
"""Per-command latency as tpm2-tss's users see it: tpm2-pytss (Debian python3-tpm2-pytss) ESAPI calls
timed with time.perf_counter_ns, on one kept-open TCTI per TPM, calls interleaved one for one across
the TPMs (alternating which goes first) so drift in the machine's load hits all alike.

Usage: latency.py [--iterations N] [--key-iterations K] [--rsa-iterations R] [--rows A,B]
                  NAME=TCTI:CONFIG ...
e.g.   latency.py warden=mssim:host=127.0.0.1,port=2321 swtpm=swtpm:host=127.0.0.1,port=2323

Prints one JSON object: {"rows": [{"command": ..., "iterations": n, "median_us": {NAME: us}}]}.
Every response is checked (untimed): an error is an exception, never a figure. Objects a timed call
creates are flushed, untimed, before the next call. Run by `cargo xtask bench vtpm` and by
tests/tests/vtpm_latency.rs.
"""

import argparse
import json
import os
import statistics
import sys
import time

# ESAPI logs a warning for every TPM error it receives, including the expected "no such NV index"
# of the clean-up; errors still raise, with their response code.
os.environ.setdefault("TSS2_LOG", "all+none")

from tpm2_pytss import ESAPI, TCTILdr, TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RC, TPM2_RH, TPM2_ST, TPM2_SU, TPMA_NV
from tpm2_pytss.types import (
    TPM2B_NV_PUBLIC,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPML_DIGEST_VALUES,
    TPMS_NV_PUBLIC,
    TPMT_HA,
    TPMT_SIG_SCHEME,
    TPMT_TK_HASHCHECK,
    TPMU_HA,
)

# Untimed calls before each row's timed ones (fewer for rows of few, slow calls).
WARM_UP = 5
NV_INDEX = 0x01500077
SIGN_ATTRIBUTES = "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth"


def startup(esys):
    try:
        esys.startup(TPM2_SU.CLEAR)
    except TSS2_Exception as error:
        # A TPM some earlier client started (or swtpm's startup-clear flag) answers TPM_RC_INITIALIZE.
        if error.rc != TPM2_RC.INITIALIZE:
            raise


def template(alg, unique):
    """A primary's template with a fresh unique field: the same template under the same seed gives
    the same key, which a TPM may cache; a fresh unique makes every call derive a new key."""
    public = TPM2B_PUBLIC.parse(alg, objectAttributes=SIGN_ATTRIBUTES)
    if alg.startswith("rsa"):
        public.publicArea.unique.rsa = unique
    else:
        public.publicArea.unique.ecc.x = unique
    return public


class Tpm:
    """One TPM behind its TCTI, with what its rows need: an NV index and an ECC P-256 signing key."""

    def __init__(self, name, spec):
        tcti, _, config = spec.partition(":")
        self.name = name
        self.esys = ESAPI(TCTILdr(tcti, config))
        startup(self.esys)
        self.nv = None
        self.key = None

    def prepare(self, rows):
        esys = self.esys
        if any(row.startswith("NV_") for row in rows):
            self.remove_nv()
            public = TPM2B_NV_PUBLIC(
                nvPublic=TPMS_NV_PUBLIC(
                    nvIndex=NV_INDEX,
                    nameAlg=TPM2_ALG.SHA256,
                    attributes=TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD,
                    dataSize=32,
                )
            )
            self.nv = esys.nv_define_space(b"", public)
            # Written once untimed, so NV_Read has data even when the NV_Write row is not run.
            esys.nv_write(self.nv, bytes(range(32)))
        if any(row.startswith(("Sign", "Quote")) for row in rows):
            self.key = esys.create_primary(TPM2B_SENSITIVE_CREATE(), template("ecc256:ecdsa-sha256", b""))[0]

    def remove_nv(self):
        try:
            self.esys.nv_undefine_space(self.esys.tr_from_tpmpublic(NV_INDEX))
        except TSS2_Exception:
            pass  # not defined: nothing to remove

    def finish(self):
        if self.nv is not None:
            self.esys.nv_undefine_space(self.nv)
        if self.key is not None:
            self.esys.flush_context(self.key)
        self.esys.pcr_reset(ESYS_TR.PCR16)
        self.esys.close()


def get_random(tpm):
    if len(bytes(tpm.esys.get_random(32))) != 32:
        raise AssertionError(f"{tpm.name}: GetRandom(32) returned another size")


def pcr_extend(tpm):
    digests = TPML_DIGEST_VALUES([TPMT_HA(hashAlg=TPM2_ALG.SHA256, digest=TPMU_HA(sha256=bytes(range(32))))])
    tpm.esys.pcr_extend(ESYS_TR.PCR16, digests)


def pcr_read(tpm):
    tpm.esys.pcr_read("sha256:16")


def hash_64(tpm):
    tpm.esys.hash(bytes(64), TPM2_ALG.SHA256, ESYS_TR.NULL)


def nv_write(tpm):
    tpm.esys.nv_write(tpm.nv, bytes(range(32)))


def nv_read(tpm):
    if bytes(tpm.esys.nv_read(tpm.nv, 32)) != bytes(range(32)):
        raise AssertionError(f"{tpm.name}: NV_Read returned other bytes than NV_Write wrote")


def primary(alg, unique_size):
    def create(tpm):
        return tpm.esys.create_primary(TPM2B_SENSITIVE_CREATE(), tpm.unique)[0]

    def setup(tpm):
        tpm.unique = template(alg, os.urandom(unique_size))

    return create, setup


def sign(tpm):
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = TPM2_ALG.SHA256
    # A digest the TPM did not compute itself carries a null ticket (TPM 2.0 Part 3, TPM2_Sign).
    validation = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
    tpm.esys.sign(tpm.key, bytes(32), scheme, validation)


def quote(tpm):
    tpm.esys.quote(tpm.key, "sha256:0,1,2,3,16", b"latency nonce")


# row -> (timed call, untimed setup before each call or None); a call that returns a handle has it
# flushed, untimed. GetRandom asks 32 bytes, Hash hashes 64, the NV rows move 32; the names are
# those of the bench's raw-client rows that send the same commands.
ROWS = {
    "GetRandom": (get_random, None),
    "PCR_Extend": (pcr_extend, None),
    "PCR_Read": (pcr_read, None),
    "Hash": (hash_64, None),
    "NV_Write": (nv_write, None),
    "NV_Read": (nv_read, None),
    "CreatePrimary(ECC P-256)": primary("ecc256:ecdsa-sha256", 32),
    "CreatePrimary(ECC P-384)": primary("ecc384:ecdsa-sha384", 48),
    "CreatePrimary(RSA-2048 fresh unique)": primary("rsa2048:rsassa-sha256", 32),
    "Sign(ECDSA P-256)": (sign, None),
    "Quote(ECDSA P-256)": (quote, None),
}


def iterations_for(row, args):
    if row.startswith("CreatePrimary(RSA"):
        return args.rsa_iterations
    if row.startswith(("CreatePrimary", "Sign", "Quote")):
        return args.key_iterations
    return args.iterations


def measure(tpms, call, setup, iterations):
    times = {tpm.name: [] for tpm in tpms}
    warm_up = min(WARM_UP, max(1, iterations // 10))
    for round_number in range(warm_up + iterations):
        # Each TPM goes first in half of the rounds.
        order = tpms if round_number % 2 == 0 else list(reversed(tpms))
        for tpm in order:
            if setup is not None:
                setup(tpm)
            start = time.perf_counter_ns()
            created = call(tpm)
            elapsed = time.perf_counter_ns() - start
            if created is not None:
                tpm.esys.flush_context(created)
            if round_number >= warm_up:
                times[tpm.name].append(elapsed)
    return {name: statistics.median(samples) / 1000 for name, samples in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--key-iterations", type=int, default=100)
    parser.add_argument("--rsa-iterations", type=int, default=5)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names (default: all)")
    parser.add_argument("tpms", nargs="+", metavar="NAME=TCTI:CONFIG")
    args = parser.parse_args()
    rows = [row for row in ROWS if row in args.rows.split(",")]
    unknown = set(args.rows.split(",")) - set(ROWS)
    if unknown:
        sys.exit(f"unknown rows: {sorted(unknown)}; known: {list(ROWS)}")

    tpms = []
    for spec in args.tpms:
        name, _, tcti = spec.partition("=")
        tpms.append(Tpm(name, tcti))
    for tpm in tpms:
        tpm.prepare(rows)
    results = []
    for row in rows:
        call, setup = ROWS[row]
        iterations = iterations_for(row, args)
        results.append({"command": row, "iterations": iterations, "median_us": measure(tpms, call, setup, iterations)})
    for tpm in tpms:
        tpm.finish()
    json.dump({"rows": results}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
