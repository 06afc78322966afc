//! Round trips through tpm2-tss do not stall. tpm2-tss's mssim TCTI sends each command in two
//! pieces on a socket with Nagle's algorithm on; a server that lets the kernel delay its ACK of the
//! first piece holds the second back ~40 ms, so every command took ~44 ms (the engine needs well
//! under 1 ms for these). The bound below is far above any honest figure on a loaded machine and
//! far below the stall.

use super::started;

/// Far below the ~40 ms delayed-ACK stall, generous for a CI machine under load.
const BOUND_US: f64 = 10_000.0;

#[test]
fn tpm2_tss_round_trips_do_not_stall() {
    let server = started();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pytss/latency.py");
    let rows = "GetRandom,PCR_Extend,PCR_Read,Hash,NV_Write,NV_Read";
    let output = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["--iterations", "50", "--rows", rows])
        .arg(format!("warden=mssim:host=127.0.0.1,port={}", server.port))
        .output()
        .expect("cannot run /usr/bin/python3");
    assert!(
        output.status.success(),
        "latency.py failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let measured = result["rows"].as_array().unwrap();
    assert_eq!(measured.len(), rows.split(',').count(), "{result}");
    for row in measured {
        let median = row["median_us"]["warden"].as_f64().unwrap();
        assert!(median < BOUND_US, "{}: median {median:.0} µs through tpm2-tss: {result}", row["command"]);
    }
}
