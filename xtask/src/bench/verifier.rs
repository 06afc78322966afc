//! `cargo xtask bench verifier`: how many attestations the verifier checks per second on one core, and
//! how long a full KBS handshake takes over HTTP.
//!
//! Throughput, in this thread's CPU time, over one fixed real evidence set (a report of the test image
//! captured from the emulated SNP machine, `verifier/agent/tests/evidence/`): the baseline is the one
//! ECDSA P-384 verification of the report's signature every verifier must do; against it, the
//! `warden_evidence::verify` checks (the RSA-4096 chain, the VCEK's extensions, the binding, ...), and
//! the service's path (the checks against the stored reference values, then the ES384 token).
//!
//! Latency: `warden-verifier`'s router served in this process on 127.0.0.1 with an in-memory store,
//! the agent's HTTP client doing auth → attest → resource and decrypting the secret. The evidence for
//! each challenge is the captured report re-signed for the new nonce with the emulated PSP's INSECURE
//! TEST VCEK (`warden_kbs_agent::insecure_test_psp`): its cost is reported apart, and the boot of the
//! emulated machine, which a real guest would need once per attestation, is excluded (with `--boot`, one
//! `attest` boot is timed and reported on its own row).
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p384::ecdsa::Signature;
use p384::ecdsa::signature::Verifier;
use warden_evidence::{Evidence, Expected, Report, TrustAnchors, cert_table, chain, vcek};
use warden_kbs_agent::{Attester, ResourcePath, fetch, insecure_test_psp};
use warden_verifier::policy::ResourcePolicy;
use warden_verifier::protocol::{TeePubKey, TokenClaims};
use warden_verifier::store::memory::MemoryStore;
use warden_verifier::store::{Store, StoredReferenceValues};
use warden_verifier::token::TokenKey;

use super::hash::thread_cpu_ns;

/// Measure the verifier's throughput and handshake latency.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the rows as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The evidence directory [default: verifier/agent/tests/evidence].
    #[arg(long)]
    pub evidence: Option<PathBuf>,
    /// CPU seconds each throughput row runs.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Handshakes timed.
    #[arg(long, default_value_t = 50)]
    pub handshakes: usize,
    /// Also time one boot and attestation of the test image on the emulated SNP machine.
    #[arg(long)]
    pub boot: bool,
}

/// One row of the table.
struct Row {
    what: &'static str,
    /// Operations per CPU second, or for latency rows the median in ms.
    value: f64,
    unit: &'static str,
    /// `value` over the baseline's (throughput rows), or p90 over median (latency rows).
    ratio: Option<f64>,
    count: usize,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> crate::Result {
    let dir = args
        .evidence
        .clone()
        .unwrap_or_else(|| crate::build::workspace_root().join("verifier/agent/tests/evidence"));
    let captured = crate::evidence::read_dir(&dir)?;
    let ark = std::fs::read(dir.join("ark.pem"))?;
    let roots = TrustAnchors::only(&ark).map_err(|e| format!("bench verifier: ark.pem: {e}"))?;
    let report = Report::parse(&captured.report).map_err(|e| format!("bench verifier: report: {e}"))?;
    let (measurement, policy) = (*report.measurement(), report.policy());

    // The evidence bound to a fixed nonce, so every check passes.
    let nonce = [0x5a; 64];
    let vcek_key = insecure_test_psp::vcek();
    let evidence = Evidence {
        report: insecure_test_psp::rebind(&captured.report, &captured.manifest, &nonce, &vcek_key)?,
        nonce: nonce.to_vec(),
        ..captured
    };
    let expected = Expected { measurements: vec![measurement], policy, ..Expected::default() };
    let verdict = warden_evidence::verify(&evidence, &roots, &expected);
    if let Some((check, failure)) = verdict.first_failure() {
        return Err(format!("bench verifier: the evidence fails {}: {failure}", check.name()).into());
    }
    let references = vec![StoredReferenceValues {
        id: "bench".into(),
        image: crate::build::SNP_GUEST_IGVM.into(),
        measurements: vec![measurement],
        policy,
        payload: Vec::new(),
    }];

    let mut rows = Vec::new();
    let vcek_public = cert_table::find(&evidence.cert_table, &cert_table::VCEK_GUID)
        .ok()
        .flatten()
        .and_then(|der| chain::parse_der(der).ok())
        .and_then(|cert| vcek::public_key(&cert).ok())
        .ok_or("bench verifier: the certificate table has no readable VCEK")?;
    let signature = report_signature(&evidence.report)?;
    let baseline =
        per_cpu_second(args.seconds, || vcek_public.verify(&evidence.report[..0x2A0], &signature).is_ok());
    rows.push(Row {
        what: "ECDSA P-384 verify of the report (baseline)",
        value: baseline.0,
        unit: "/s",
        ratio: Some(1.0),
        count: baseline.1,
    });
    let checks =
        per_cpu_second(args.seconds, || warden_evidence::verify(&evidence, &roots, &expected).passed());
    rows.push(Row {
        what: "warden_evidence::verify, 13 checks",
        value: checks.0,
        unit: "/s",
        ratio: Some(checks.0 / baseline.0),
        count: checks.1,
    });
    let token_key = TokenKey::generate();
    let tee_pubkey = warden_kbs_agent::tee_key::fresh().public_jwk();
    let issued = per_cpu_second(args.seconds, || {
        warden_verifier::attest::evaluate(&evidence, &roots, &references)
            .map(|attested| token_key.sign(&claims(&attested, &tee_pubkey)))
            .is_ok()
    });
    rows.push(Row {
        what: "service path: checks vs stored values + ES384 token",
        value: issued.0,
        unit: "/s",
        ratio: Some(issued.0 / baseline.0),
        count: issued.1,
    });

    let (handshake, rebind) = handshakes(&dir, &roots, &references[0], args.handshakes)?;
    rows.push(latency_row("full handshake over HTTP (auth, attest, resource, decrypt)", handshake));
    rows.push(latency_row("re-signing the captured report per challenge (excluded)", rebind));
    if args.boot {
        let out =
            crate::build::workspace_root().join(format!("target/bench-verifier-{}", std::process::id()));
        let started = Instant::now();
        crate::attest::run(&crate::attest::Args {
            out: out.clone(),
            machine: crate::attest::Machine::Snp,
            nonce: None,
            no_build: false,
            image: None,
            timeout: 900,
        })?;
        let _ = std::fs::remove_dir_all(&out);
        rows.push(Row {
            what: "emulated SNP boot and attestation (excluded)",
            value: started.elapsed().as_secs_f64() * 1e3,
            unit: "ms",
            ratio: None,
            count: 1,
        });
    }
    print_table(&rows);
    if let Some(path) = &args.json {
        std::fs::write(path, json(&rows)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The report's signature (r and s little-endian in 72-byte fields at 0x2A0 and 0x2E8, SEV-SNP ABI
/// (AMD 56860) "ECDSA P-384 with SHA-384 signature").
fn report_signature(report: &[u8]) -> crate::Result<Signature> {
    let big_endian = |at: usize| -> Vec<u8> { report[at..at + 48].iter().rev().copied().collect() };
    Ok(Signature::from_scalars(
        <[u8; 48]>::try_from(big_endian(0x2A0).as_slice())?,
        <[u8; 48]>::try_from(big_endian(0x2E8).as_slice())?,
    )?)
}

/// The claims the service issues for a passing verdict (as `warden-verifier`'s attest handler).
fn claims(attested: &warden_verifier::attest::Attested, tee_pubkey: &TeePubKey) -> TokenClaims {
    let now = warden_verifier::now();
    TokenClaims {
        iss: "warden-verifier".into(),
        iat: now,
        exp: now + 300,
        jti: "bench".into(),
        session: "bench".into(),
        tee_pubkey: tee_pubkey.clone(),
        verdict: "pass".into(),
        measurement: warden_evidence::hex(&attested.measurement),
        policy: format!("{:#x}", attested.policy),
        reported_tcb: attested.reported_tcb,
        vmpl: attested.vmpl,
        debug: attested.debug,
        ek: warden_evidence::hex(&attested.ek),
        reference_values: attested.reference_values.clone(),
    }
}

/// Runs `work` until `seconds` of this thread's CPU time passed; operations per CPU second and count.
fn per_cpu_second(seconds: f64, mut work: impl FnMut() -> bool) -> (f64, usize) {
    assert!(work(), "the benchmarked operation fails");
    let started = thread_cpu_ns();
    let mut count = 0;
    while (thread_cpu_ns() - started) as f64 / 1e9 < seconds {
        std::hint::black_box(work());
        count += 1;
    }
    (count as f64 / ((thread_cpu_ns() - started) as f64 / 1e9), count)
}

/// `count` handshakes against an in-process verifier: the handshake times without the evidence, and
/// the evidence (re-signing) times.
fn handshakes(
    dir: &std::path::Path,
    roots: &TrustAnchors,
    values: &StoredReferenceValues,
    count: usize,
) -> crate::Result<(Vec<Duration>, Vec<Duration>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let store = Arc::new(MemoryStore::new());
    let resource: ResourcePath = "bench/disk/key".parse()?;
    let policy = ResourcePolicy { reference_values: vec![values.id.clone()], ..ResourcePolicy::default() };
    runtime.block_on(async {
        store.add_reference_values(values.clone()).await?;
        store.set_policy("bench", &policy).await?;
        store.put_resource(&resource, b"bench secret", "bench").await
    })?;
    let mut session_key = vec![0u8; 32];
    getrandom::fill(&mut session_key).map_err(|e| format!("bench verifier: no randomness: {e}"))?;
    let config = warden_verifier::server::Config {
        store,
        roots: roots.clone(),
        token_key: TokenKey::generate(),
        session_key: warden_verifier::session::SessionKey::new(session_key).ok_or("session key")?,
        session_seconds: 300,
    };
    let server = runtime.block_on(warden_verifier::server::Server::bind("127.0.0.1:0".parse()?, config))?;
    let url = format!("http://{}", server.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let attester = Attester::InsecureRebound(dir.to_owned());
    let mut totals = Vec::new();
    let mut evidence = Vec::new();
    for _ in 0..count {
        let released = fetch(&url, &resource, &attester)?;
        if released.secret.as_slice() != b"bench secret" {
            return Err("bench verifier: the handshake released another secret".into());
        }
        let t = released.times;
        totals.push(t.auth + t.attest + t.resource);
        evidence.push(t.evidence);
    }
    let _ = stop.send(());
    runtime.block_on(serving)??;
    Ok((totals, evidence))
}

fn latency_row(what: &'static str, mut times: Vec<Duration>) -> Row {
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times.get(times.len() / 2).copied().map_or(0.0, ms);
    let p90 = times.get(times.len() * 9 / 10).copied().map_or(0.0, ms);
    Row { what, value: median, unit: "ms", ratio: Some(p90 / median.max(1e-9)), count: times.len() }
}

fn print_table(rows: &[Row]) {
    println!(
        "verifier: throughput on one core (CPU time), latency in wall time (median; ratio = p90/median)"
    );
    println!("{:<58} {:>12} {:>5} {:>8} {:>7}", "what", "value", "unit", "ratio", "count");
    for r in rows {
        let ratio = r.ratio.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"));
        println!("{:<58} {:>12.2} {:>5} {:>8} {:>7}", r.what, r.value, r.unit, ratio, r.count);
    }
}

fn json(rows: &[Row]) -> crate::Result<String> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "what": r.what,
                "value": r.value,
                "unit": r.unit,
                "ratio": r.ratio,
                "count": r.count,
                "profile": if cfg!(debug_assertions) { "dev (crypto crates opt-level 3)" } else { "release" },
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&rows)? + "\n")
}
