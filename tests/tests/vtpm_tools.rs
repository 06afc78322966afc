//! The host vTPM server (`cargo xtask tpm-server`) driven by unmodified tpm2-tools and tpm2-pytss
//! over the mssim protocol. Every expected value comes from an independent oracle (the `sha2`
//! crate, coreutils' `sha256sum`/`sha384sum`, or the TPM's own advertised limits), never from the
//! server. Each test starts its own server on its own ports and kills it at the end.
#![forbid(unsafe_code)]

#[path = "vtpm_tools/banks.rs"]
mod banks;
#[path = "vtpm_tools/harness.rs"]
mod harness;
#[path = "vtpm_tools/hierarchy.rs"]
mod hierarchy;
#[path = "vtpm_tools/latency.rs"]
mod latency;
#[path = "vtpm_tools/nv.rs"]
mod nv;
#[path = "vtpm_tools/nv_admin.rs"]
mod nv_admin;
#[path = "vtpm_tools/seeds.rs"]
mod seeds;

use std::io::{Read, Write};

use harness::{Server, coreutils_digest, hex, parse_pcrread};
use sha2::{Digest, Sha256, Sha384};
use warden_mssim::Signal;

/// Reads one fixed property's raw value from `tpm2_getcap properties-fixed`.
fn fixed_property(yaml: &str, name: &str) -> u32 {
    let mut lines = yaml.lines().skip_while(|line| line.trim() != format!("{name}:"));
    lines.next().unwrap_or_else(|| panic!("{name} missing from properties-fixed"));
    let raw = lines.next().and_then(|line| line.trim().strip_prefix("raw: 0x")).unwrap();
    u32::from_str_radix(raw, 16).unwrap()
}

fn started() -> Server {
    let server = Server::start();
    server.ok("tpm2_startup", &["-c"]);
    server
}

#[test]
fn getcap_is_complete_and_self_consistent() {
    let server = started();
    let fixed = server.ok("tpm2_getcap", &["properties-fixed"]);
    // Every command the TPM lists is one entry with a commandIndex; the count it advertises in
    // TPM2_PT_TOTAL_COMMANDS must be that number (the kernel requires it in one response).
    let commands = server.ok("tpm2_getcap", &["commands"]);
    let listed = commands.lines().filter(|line| line.trim_start().starts_with("commandIndex:")).count();
    assert!(listed > 0);
    assert_eq!(fixed_property(&fixed, "TPM2_PT_TOTAL_COMMANDS") as usize, listed);
    for command in ["Startup", "GetCapability", "GetRandom", "PCR_Read", "PCR_Extend", "Hash"] {
        assert!(commands.contains(&format!("TPM2_CC_{command}:")), "{command} not listed");
    }

    // 24 PCRs in sha256 and sha384, as advertised in TPM2_PT_PCR_COUNT.
    assert_eq!(fixed_property(&fixed, "TPM2_PT_PCR_COUNT"), 24);
    let pcrs = server.ok("tpm2_getcap", &["pcrs"]);
    let all: Vec<String> = (0..24).map(|i| i.to_string()).collect();
    for bank in ["sha256", "sha384"] {
        let line = pcrs.lines().find(|line| line.contains(&format!("{bank}:"))).expect(bank);
        assert!(line.contains(&format!("[ {} ]", all.join(", "))), "{line}");
    }
    // The largest digest must hold the largest bank's digest (SHA-384: 48 bytes).
    assert!(fixed_property(&fixed, "TPM2_PT_MAX_DIGEST") >= 48);
    let algorithms = server.ok("tpm2_getcap", &["algorithms"]);
    assert!(algorithms.contains("sha256:") && algorithms.contains("sha384:"));
}

#[test]
fn getrandom_returns_the_requested_sizes() {
    let server = started();
    let max_digest = fixed_property(&server.ok("tpm2_getcap", &["properties-fixed"]), "TPM2_PT_MAX_DIGEST");
    let mut draws = Vec::new();
    for size in [1, 8, 16, 32, max_digest] {
        server.ok("tpm2_getrandom", &["-o", "random.bin", &size.to_string()]);
        let bytes = std::fs::read(server.path("random.bin")).unwrap();
        assert_eq!(bytes.len(), size as usize);
        draws.push(bytes);
    }
    // Two 32-byte draws that agree would mean a stuck generator (chance 2^-256 otherwise).
    server.ok("tpm2_getrandom", &["-o", "again.bin", "32"]);
    assert_ne!(std::fs::read(server.path("again.bin")).unwrap(), draws[3]);
    // The TPM never returns more than its largest digest, even when forced to ask for more.
    server.ok("tpm2_getrandom", &["-f", "-o", "big.bin", &(max_digest + 50).to_string()]);
    assert_eq!(std::fs::read(server.path("big.bin")).unwrap().len(), max_digest as usize);
}

fn pcr(server: &Server, selection: &str) -> Vec<(String, u32, String)> {
    parse_pcrread(&server.ok("tpm2_pcrread", &[selection]))
}

fn value(values: &[(String, u32, String)], bank: &str, index: u32) -> String {
    let found = values.iter().find(|(b, i, _)| b == bank && *i == index);
    found.unwrap_or_else(|| panic!("{bank}:{index} not read")).2.clone()
}

#[test]
fn pcrextend_chains_digests_in_every_bank() {
    let server = started();
    let zero256 = [0u8; 32];
    let zero384 = [0u8; 48];
    let read = pcr(&server, "sha256:16+sha384:16");
    assert_eq!(value(&read, "sha256", 16), hex(&zero256));
    assert_eq!(value(&read, "sha384", 16), hex(&zero384));

    let (d1, d2) = (Sha256::digest(b"first event"), Sha256::digest(b"second event"));
    let e1 = Sha384::digest(b"first event");
    let arg = format!("16:sha256={},sha384={}", hex(&d1), hex(&e1));
    server.ok("tpm2_pcrextend", &[&arg]);
    server.ok("tpm2_pcrextend", &[&format!("16:sha256={}", hex(&d2))]);

    // PCR_new = H(PCR_old || digest), per bank (TPM 2.0 Part 1, 17.2).
    let after_one = Sha256::new().chain_update(zero256).chain_update(d1).finalize();
    let expected256 = Sha256::new().chain_update(after_one).chain_update(d2).finalize();
    let expected384 = Sha384::new().chain_update(zero384).chain_update(e1).finalize();
    let read = pcr(&server, "sha256:16+sha384:16");
    assert_eq!(value(&read, "sha256", 16), hex(&expected256));
    assert_eq!(value(&read, "sha384", 16), hex(&expected384));
    // Other PCRs are untouched.
    assert_eq!(value(&pcr(&server, "sha256:15"), "sha256", 15), hex(&zero256));
}

#[test]
fn pcrevent_hashes_the_event_in_every_bank_and_extends() {
    let server = started();
    // Up to 1024 bytes tpm2_pcrevent sends TPM2_PCR_Event. (Larger files go through an event
    // sequence authorized with an HMAC session: `vtpm_sessions.rs`.)
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 11 % 251) as u8).collect();
    let file = server.path("event.bin");
    std::fs::write(&file, &data).unwrap();
    let printed = server.ok("tpm2_pcrevent", &["16", "event.bin"]);
    for (bank, size) in [("sha256", 32), ("sha384", 48)] {
        let event = coreutils_digest(bank, &file);
        let line = printed.lines().find_map(|line| line.trim().strip_prefix(&format!("{bank}: ")));
        assert_eq!(line, Some(event.as_str()), "{printed}");
        let event = (0..event.len()).step_by(2).map(|i| u8::from_str_radix(&event[i..i + 2], 16).unwrap());
        let extend_input: Vec<u8> = std::iter::repeat_n(0, size).chain(event).collect();
        let expected = if bank == "sha256" {
            hex(&Sha256::digest(&extend_input))
        } else {
            hex(&Sha384::digest(&extend_input))
        };
        assert_eq!(value(&pcr(&server, &format!("{bank}:16")), bank, 16), expected, "{bank}");
    }
}

#[test]
fn concurrent_tool_runs_are_served_one_command_at_a_time() {
    let server = started();
    let digest = Sha256::digest(b"concurrent event");
    let argument = format!("16:sha256={}", hex(&digest));
    // Four clients at once, each with its own sockets and its own POWER_ON, extending the same PCR.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..3 {
                    server.ok("tpm2_pcrextend", &[&argument]);
                }
            });
        }
    });
    // Extending by the same digest commutes, so twelve whole extends give one value whatever the
    // interleaving; a lost or torn update, or a POWER_ON that reset the TPM, would not.
    let mut expected = [0u8; 32].to_vec();
    for _ in 0..12 {
        expected = Sha256::new().chain_update(&expected).chain_update(digest).finalize().to_vec();
    }
    assert_eq!(value(&pcr(&server, "sha256:16"), "sha256", 16), hex(&expected));
}

#[test]
fn pcrreset_is_allowed_for_16_and_23_only_at_locality_0() {
    let server = started();
    let digest = hex(&Sha256::digest(b"event"));
    for index in [0, 16, 23] {
        server.ok("tpm2_pcrextend", &[&format!("{index}:sha256={digest}")]);
    }
    let extended = value(&pcr(&server, "sha256:0"), "sha256", 0);
    assert_ne!(extended, hex(&[0; 32]));

    for index in ["16", "23"] {
        server.ok("tpm2_pcrreset", &[index]);
    }
    let read = pcr(&server, "sha256:16,23+sha384:16,23");
    for (bank, _, value) in &read {
        let size = if bank == "sha256" { 32 } else { 48 };
        assert_eq!(value, &hex(&vec![0; size]), "{bank} after reset");
    }
    // PCR 0 (SRTM) and 17-22 (DRTM, locality 3-4 only) refuse a reset from locality 0 with
    // TPM_RC_LOCALITY, and PCR 0 keeps its value.
    for index in ["0", "17", "22"] {
        let stderr = server.fails("tpm2_pcrreset", &[index]);
        assert!(stderr.contains("0x907"), "pcrreset {index}: {stderr}");
    }
    assert_eq!(value(&pcr(&server, "sha256:0"), "sha256", 0), extended);
}

#[test]
fn hash_and_hash_sequences_match_coreutils() {
    let server = started();
    // tpm2_hash sends TPM2_Hash up to 1024 bytes and a hash sequence (HashSequenceStart,
    // SequenceUpdate..., SequenceComplete) beyond.
    for size in [1usize, 100, 1024, 1025, 3000, 5000] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        let file = server.path("data.bin");
        std::fs::write(&file, &data).unwrap();
        for algorithm in ["sha256", "sha384"] {
            let output = server.ok("tpm2_hash", &["-g", algorithm, "--hex", "data.bin"]);
            assert_eq!(output.trim(), coreutils_digest(algorithm, &file), "{algorithm} of {size} bytes");
        }
        // With a hierarchy the TPM returns a hash-check ticket: TPM_ST_HASHCHECK, owner, an HMAC.
        server.ok("tpm2_hash", &["-g", "sha256", "-C", "o", "-o", "d.bin", "-t", "t.bin", "data.bin"]);
        let ticket = std::fs::read(server.path("t.bin")).unwrap();
        assert_eq!(ticket.get(..6), Some(&[0x80, 0x24, 0x40, 0, 0, 1][..]), "ticket {ticket:02x?}");
        assert!(ticket.len() > 8, "ticket without an HMAC");
        assert_eq!(hex(&std::fs::read(server.path("d.bin")).unwrap()), coreutils_digest("sha256", &file));
    }
}

#[test]
fn sessions_are_saved_to_files_and_flushed() {
    let server = started();
    server.ok("tpm2_startauthsession", &["-S", "hmac.ctx"]);
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "policy.ctx"]);
    let saved = |server: &Server| {
        let listed = server.ok("tpm2_getcap", &["handles-saved-session"]);
        listed.lines().filter(|line| line.trim_start().starts_with("- 0x")).count()
    };
    assert_eq!(saved(&server), 2, "both sessions are context-saved");
    server.ok("tpm2_flushcontext", &["hmac.ctx"]);
    assert_eq!(saved(&server), 1);
    // A flushed session's saved context can no longer be loaded.
    server.fails("tpm2_flushcontext", &["hmac.ctx"]);
    server.ok("tpm2_flushcontext", &["policy.ctx"]);
    assert_eq!(saved(&server), 0);
}

#[test]
fn hostile_clients_are_disconnected_and_the_server_keeps_serving() {
    let mut server = started();
    let mut raw = server.raw();
    // A command longer than any TPM command: the server must not allocate or wait for 4 GiB.
    let oversized = [&Signal::SEND_COMMAND.to_wire()[..], &[0], &u32::MAX.to_be_bytes()].concat();
    raw.0.tpm.write_all(&oversized).unwrap();
    assert_eq!(raw.0.tpm.read(&mut [0; 8]).unwrap_or(0), 0, "oversized command: disconnected");
    // Garbage on the platform port: refused with 1, then disconnected.
    raw.0.platform.write_all(b"\0\0\0\x63garbage").unwrap();
    let mut status = [0; 4];
    raw.0.platform.read_exact(&mut status).unwrap();
    assert_eq!(status, [0, 0, 0, 1]);
    // Garbage inside a well-framed command reaches the engine, which answers with an error.
    let mut raw = server.raw();
    for garbage in [&[][..], &[0x80], &[0xFF; 10], &[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0xFF, 0xFF]] {
        let (code, _) = raw.call(garbage);
        assert_ne!(code, 0, "garbage {garbage:02x?} accepted");
    }
    assert!(server.alive());
    let random = server.ok("tpm2_getrandom", &["--hex", "16"]);
    assert_eq!(random.trim().len(), 32);
}

#[test]
fn pytss_flows() {
    let server = started();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pytss/flows.py");
    // Debian's python3-tpm2-pytss lives in the system interpreter's dist-packages.
    let output = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(server.port.to_string())
        .output()
        .expect("cannot run /usr/bin/python3");
    assert!(
        output.status.success(),
        "flows.py failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("pytss flows: all passed"), "{stdout}");
}

/// `time:` from `tpm2_readclock`'s YAML, in milliseconds.
fn clock_time(server: &Server) -> u64 {
    let yaml = server.ok("tpm2_readclock", &[]);
    let line = yaml.lines().find(|line| line.trim_start().starts_with("time:")).expect("a time field");
    line.trim_start().trim_start_matches("time:").trim().parse().expect("a number of milliseconds")
}

#[test]
fn readclock_advances_with_host_time() {
    let server = started();
    let before = clock_time(&server);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = clock_time(&server);
    assert!(after >= before + 250, "TPM time went from {before} ms to {after} ms over 300 ms");
}
