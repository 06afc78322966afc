//! TPM2_Duplicate through tpm2-tools, as the tool suite's own duplicate test drives it: a key whose
//! policy is PolicyCommandCode(Duplicate) (or PolicyDuplicationSelect naming the new parent) is
//! duplicated to a new parent known only by its public area, imported and loaded under that parent,
//! and signs what OpenSSL verifies with the key's exported public key.

use super::{flush, openssl_verifies, started};
use crate::harness::Server;

/// A trial PolicyCommandCode(Duplicate) digest in `policy.dat`.
fn duplicate_policy(server: &Server) {
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policycommandcode", &["-S", "trial.ctx", "-L", "policy.dat", "TPM2_CC_Duplicate"]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
}

/// Signs `msg` with the key in `ctx` and checks the signature with OpenSSL.
fn signs(server: &Server, ctx: &str) -> bool {
    std::fs::write(server.path("msg"), b"duplicated and imported").unwrap();
    server.ok("tpm2_sign", &["-c", ctx, "-g", "sha256", "-f", "plain", "-o", "sig.der", "msg"]);
    server.ok("tpm2_readpublic", &["-c", ctx, "-f", "pem", "-o", "moved.pem"]);
    flush(server);
    openssl_verifies(server, "moved.pem", "sig.der", "msg", &[])
}

#[test]
fn an_rsa_key_duplicates_to_a_new_parent_and_signs_there() {
    let server = started();
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-g", "sha256", "-G", "rsa", "-c", "primary.ctx"]);
    duplicate_policy(&server);
    let key = ["-g", "sha256", "-G", "rsa", "-r", "key.prv", "-u", "key.pub", "-L", "policy.dat"];
    let attrs = ["-a", "sensitivedataorigin|sign|decrypt|userwithauth"];
    server.ok("tpm2_create", &[&["-Q", "-C", "primary.ctx"][..], &key, &attrs].concat());
    let parent_attrs = "decrypt|fixedparent|fixedtpm|restricted|sensitivedataorigin|userwithauth";
    let parent =
        ["-g", "sha256", "-G", "rsa", "-r", "new_parent.prv", "-u", "new_parent.pub", "-a", parent_attrs];
    server.ok("tpm2_create", &[&["-Q", "-C", "primary.ctx"][..], &parent].concat());
    flush(&server);
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-g", "sha256", "-G", "rsa", "-c", "primary.ctx"]);
    server.ok("tpm2_load", &["-Q", "-C", "primary.ctx", "-r", "key.prv", "-u", "key.pub", "-c", "key.ctx"]);
    server.ok("tpm2_loadexternal", &["-Q", "-C", "o", "-u", "new_parent.pub", "-c", "new_parent.ctx"]);
    // A password cannot authorize the DUP role: TPM_RC_AUTH_UNAVAILABLE.
    let dup = ["-C", "new_parent.ctx", "-c", "key.ctx", "-G", "null", "-r", "dup.prv", "-s", "dup.seed"];
    let stderr = server.fails("tpm2_duplicate", &dup);
    assert!(stderr.contains("0x12F") || stderr.contains("0x12f"), "{stderr}");
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
    server.ok("tpm2_policycommandcode", &["-S", "session.ctx", "TPM2_CC_Duplicate"]);
    server.ok("tpm2_duplicate", &[&dup[..], &["-p", "session:session.ctx"]].concat());
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    flush(&server);

    // The new parent, loaded for real this time, imports the duplicate.
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-g", "sha256", "-G", "rsa", "-c", "primary.ctx"]);
    let load_parent = ["-Q", "-C", "primary.ctx", "-u", "new_parent.pub", "-r", "new_parent.prv"];
    server.ok("tpm2_load", &[&load_parent[..], &["-c", "new_parent.ctx"]].concat());
    let import =
        ["-C", "new_parent.ctx", "-u", "key.pub", "-i", "dup.prv", "-r", "key2.prv", "-s", "dup.seed"];
    server.ok("tpm2_import", &import);
    flush(&server);
    server.ok("tpm2_load", &[&load_parent[..], &["-c", "new_parent.ctx"]].concat());
    server.ok(
        "tpm2_load",
        &["-Q", "-C", "new_parent.ctx", "-u", "key.pub", "-r", "key2.prv", "-c", "key2.ctx"],
    );
    assert!(signs(&server, "key2.ctx"));
}

#[test]
fn an_ecc_key_duplicates_with_an_inner_wrapper_to_another_hierarchy() {
    let server = started();
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"]);
    duplicate_policy(&server);
    let key = ["-G", "ecc", "-r", "key.prv", "-u", "key.pub", "-L", "policy.dat"];
    server.ok(
        "tpm2_create",
        &[&["-Q", "-C", "primary.ctx"][..], &key, &["-a", "sensitivedataorigin|sign|userwithauth"]].concat(),
    );
    // The new parent is the endorsement hierarchy's storage primary, known here by its public area.
    server.ok("tpm2_createprimary", &["-Q", "-C", "e", "-G", "ecc", "-c", "endorsement.ctx"]);
    server.ok("tpm2_readpublic", &["-c", "endorsement.ctx", "-o", "endorsement.pub"]);
    flush(&server);
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"]);
    server.ok("tpm2_load", &["-Q", "-C", "primary.ctx", "-r", "key.prv", "-u", "key.pub", "-c", "key.ctx"]);
    server.ok("tpm2_loadexternal", &["-Q", "-C", "o", "-u", "endorsement.pub", "-c", "new_parent.ctx"]);
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
    server.ok("tpm2_policycommandcode", &["-S", "session.ctx", "TPM2_CC_Duplicate"]);
    // -G aes without a key: the TPM chooses the inner key and returns it.
    let dup = ["-C", "new_parent.ctx", "-c", "key.ctx", "-G", "aes", "-o", "inner.key", "-r", "dup.prv"];
    server.ok("tpm2_duplicate", &[&dup[..], &["-s", "dup.seed", "-p", "session:session.ctx"]].concat());
    assert_eq!(std::fs::read(server.path("inner.key")).unwrap().len(), 16);
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    flush(&server);

    server.ok("tpm2_createprimary", &["-Q", "-C", "e", "-G", "ecc", "-c", "endorsement.ctx"]);
    let import = ["-C", "endorsement.ctx", "-G", "aes", "-k", "inner.key", "-u", "key.pub", "-i", "dup.prv"];
    server.ok("tpm2_import", &[&import[..], &["-r", "key2.prv", "-s", "dup.seed"]].concat());
    server.ok(
        "tpm2_load",
        &["-Q", "-C", "endorsement.ctx", "-u", "key.pub", "-r", "key2.prv", "-c", "key2.ctx"],
    );
    assert!(signs(&server, "key2.ctx"));
}

#[test]
fn policy_duplication_select_names_the_only_new_parent() {
    let server = started();
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"]);
    let parent_attrs = "decrypt|fixedparent|fixedtpm|restricted|sensitivedataorigin|userwithauth";
    let parent = ["-G", "ecc", "-r", "new_parent.prv", "-u", "new_parent.pub", "-a", parent_attrs];
    server.ok("tpm2_create", &[&["-Q", "-C", "primary.ctx"][..], &parent].concat());
    server.ok(
        "tpm2_loadexternal",
        &["-Q", "-C", "o", "-u", "new_parent.pub", "-c", "new_parent.ctx", "-n", "new_parent.name"],
    );
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok(
        "tpm2_policyduplicationselect",
        &["-S", "trial.ctx", "-N", "new_parent.name", "-L", "policy.dat"],
    );
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    let key = ["-G", "ecc", "-r", "key.prv", "-u", "key.pub", "-L", "policy.dat"];
    server.ok(
        "tpm2_create",
        &[&["-Q", "-C", "primary.ctx"][..], &key, &["-a", "sensitivedataorigin|sign|userwithauth"]].concat(),
    );
    flush(&server);
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"]);
    server.ok(
        "tpm2_load",
        &["-Q", "-C", "primary.ctx", "-r", "key.prv", "-u", "key.pub", "-c", "key.ctx", "-n", "key.name"],
    );
    server.ok("tpm2_loadexternal", &["-Q", "-C", "o", "-u", "new_parent.pub", "-c", "new_parent.ctx"]);
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
    server.ok(
        "tpm2_policyduplicationselect",
        &["-S", "session.ctx", "-N", "new_parent.name", "-n", "key.name"],
    );
    let dup = ["-C", "new_parent.ctx", "-c", "key.ctx", "-G", "null", "-r", "dup.prv", "-s", "dup.seed"];
    server.ok("tpm2_duplicate", &[&dup[..], &["-p", "session:session.ctx"]].concat());
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    flush(&server);
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-G", "ecc", "-c", "primary.ctx"]);
    let load_parent =
        ["-Q", "-C", "primary.ctx", "-u", "new_parent.pub", "-r", "new_parent.prv", "-c", "np.ctx"];
    server.ok("tpm2_load", &load_parent);
    server.ok(
        "tpm2_import",
        &["-C", "np.ctx", "-u", "key.pub", "-i", "dup.prv", "-r", "key2.prv", "-s", "dup.seed"],
    );
    server.ok("tpm2_load", &["-Q", "-C", "np.ctx", "-u", "key.pub", "-r", "key2.prv", "-c", "key2.ctx"]);
    assert!(signs(&server, "key2.ctx"));
}
