//! `tpm_server -port N [-rm]`: the Warden vTPM under the name and command line of the Microsoft/IBM
//! simulator, which is how the tpm2-tss, tpm2-tools and tpm2-pytss test suites start one.
//!
//! It is `cargo xtask tpm-server` by another name: the same module, compiled into this binary.
//! `-rm` (remove the NV state file) is accepted and has nothing to do: state lives in memory.
//!
//! `unsafe`: forbidden (`#![forbid(unsafe_code)]`).
#![forbid(unsafe_code)]

#[path = "../tpm_server/mod.rs"]
#[allow(
    dead_code,
    reason = "`serve` (one address family) is for the xtask's firmware bridge, not this binary"
)]
mod tpm_server;

/// The error type the shared module's `run` returns (the xtask's own, repeated for this binary).
type Error = Box<dyn std::error::Error + Send + Sync>;
/// The result type the shared module's `run` returns.
type Result<T = ()> = std::result::Result<T, Error>;

const USAGE: &str = "usage: tpm_server [-port N] [-rm]";

fn parse(mut args: impl Iterator<Item = String>) -> Result<tpm_server::Args> {
    let mut port = 2321;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-port" | "--port" => {
                let value = args.next().ok_or(USAGE)?;
                port = value.parse().map_err(|_| format!("bad port {value:?}; {USAGE}"))?;
            }
            "-rm" => {}
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
    Ok(tpm_server::Args { port })
}

fn main() {
    let outcome = parse(std::env::args().skip(1)).and_then(|args| tpm_server::run(&args));
    if let Err(error) = outcome {
        eprintln!("tpm_server: {error}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod cli_tests {
    use super::parse;

    fn args(line: &str) -> impl Iterator<Item = String> {
        line.split_whitespace().map(str::to_owned).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn accepts_the_simulator_command_lines_of_the_test_suites() {
        assert_eq!(parse(args("-port 2400")).unwrap().port, 2400);
        assert_eq!(parse(args("-rm -port 23220")).unwrap().port, 23220);
        assert_eq!(parse(args("")).unwrap().port, 2321);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for line in ["-port", "-port x", "-port 70000", "-foo", "2321"] {
            assert!(parse(args(line)).is_err(), "{line:?}");
        }
    }
}
