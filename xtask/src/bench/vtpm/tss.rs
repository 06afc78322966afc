//! The benchmark through tpm2-tss itself: `tests/pytss/latency.py` (tpm2-pytss ESAPI calls, each
//! timed inside the script) against Warden over tpm2-tss's mssim TCTI and swtpm over its swtpm TCTI,
//! so the figures are what a user of tpm2-tools or tpm2-pytss sees, TCTI and ESAPI included.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's python3-tpm2-pytss lives in the system interpreter, which may not be first on PATH.
const PYTHON: &str = "/usr/bin/python3";

/// Timed calls per command and TPM, as the script takes them.
#[derive(Clone, Copy, Debug)]
pub struct Iterations {
    /// The quick commands (GetRandom, PCRs, Hash, NV).
    pub commands: u32,
    /// ECC CreatePrimary, Sign and Quote.
    pub keys: u32,
    /// CreatePrimary(RSA-2048) with a fresh unique field: a new 2048-bit key every call.
    pub fresh_rsa: u32,
}

/// One measured command: median microseconds on each TPM.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The row name, shared with the raw-client rows that send the same command.
    pub command: String,
    pub warden_us: f64,
    pub swtpm_us: f64,
}

/// The script, next to the other tpm2-pytss scripts of the integration tests.
pub(super) fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pytss/latency.py")
}

/// Runs the script against Warden's mssim port pair and swtpm's data/control port pair, on `rows`
/// (the script's names) or all of its rows.
pub fn measure(
    warden_port: u16,
    swtpm_port: u16,
    iterations: Iterations,
    rows: Option<&[&str]>,
) -> crate::Result<Vec<Figure>> {
    let mut command = Command::new(PYTHON);
    command.arg(script());
    if let Some(rows) = rows {
        command.arg("--rows").arg(rows.join(","));
    }
    let output = command
        .args(["--iterations", &iterations.commands.to_string()])
        .args(["--key-iterations", &iterations.keys.to_string()])
        .args(["--rsa-iterations", &iterations.fresh_rsa.to_string()])
        .arg(format!("warden=mssim:host=127.0.0.1,port={warden_port}"))
        .arg(format!("swtpm=swtpm:host=127.0.0.1,port={swtpm_port}"))
        .output()
        .map_err(|error| format!("cannot run {PYTHON} (python3-tpm2-pytss): {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "latency.py failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// The script's `{"rows": [{"command": …, "median_us": {"warden": …, "swtpm": …}}, …]}`.
fn parse(text: &str) -> crate::Result<Vec<Figure>> {
    let output: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("latency.py printed no result: {error}"))?;
    let rows = output["rows"].as_array().ok_or("latency.py printed no rows")?;
    rows.iter()
        .map(|row| {
            let command = row["command"].as_str().ok_or("a latency.py row has no command")?.to_owned();
            let side = |name: &str| {
                row["median_us"][name].as_f64().ok_or_else(|| format!("{command}: no {name} figure"))
            };
            Ok(Figure { warden_us: side("warden")?, swtpm_us: side("swtpm")?, command })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Figure, parse};

    #[test]
    fn reads_the_scripts_rows() {
        let text = r#"{"rows": [{"command": "GetRandom", "iterations": 5,
            "median_us": {"warden": 40.5, "swtpm": 80.0}}]}"#;
        let expected = Figure { command: "GetRandom".into(), warden_us: 40.5, swtpm_us: 80.0 };
        assert_eq!(parse(text).unwrap(), vec![expected]);
    }

    #[test]
    fn refuses_a_row_without_both_figures() {
        let text = r#"{"rows": [{"command": "GetRandom", "median_us": {"warden": 40.5}}]}"#;
        assert!(parse(text).unwrap_err().to_string().contains("no swtpm figure"));
        assert!(parse("Traceback (most recent call last):").is_err());
    }
}
