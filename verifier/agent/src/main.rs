//! `warden-kbs-agent get --url URL --resource REPO/TYPE/TAG --out FILE (--machine CMD... | --evidence-dir
//! DIR)`: one handshake with a Warden verifier; the released secret is written to FILE. Exit status 1
//! with the verifier's reason when it refuses.
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use warden_kbs_agent::{Attester, ResourcePath, fetch};

/// The guest side of Warden's key broker handshake.
#[derive(Parser, Debug)]
#[command(name = "warden-kbs-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Attest and fetch one resource.
    Get(GetArgs),
}

#[derive(clap::Args, Debug)]
struct GetArgs {
    /// The verifier, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// The resource, REPO/TYPE/TAG.
    #[arg(long)]
    resource: ResourcePath,
    /// Where the secret is written (mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Evidence captured earlier (it attests another nonce: a verifier must refuse it).
    #[arg(long, value_name = "DIR", conflicts_with = "machine", required_unless_present = "machine")]
    evidence_dir: Option<PathBuf>,
    /// The command that boots the guest and writes evidence for `{nonce}` (hex) into the directory
    /// `{out}`, e.g. `cargo xtask attest --no-build --out {out} --nonce {nonce}`. The rest of the line.
    #[arg(long, value_name = "CMD", num_args = 1.., allow_hyphen_values = true)]
    machine: Option<Vec<String>>,
}

fn main() {
    let Cli { command: Command::Get(args) } = Cli::parse();
    let attester = match (args.machine, args.evidence_dir) {
        (Some(command), _) => Attester::Command(command),
        (None, Some(dir)) => Attester::Dir(dir),
        (None, None) => unreachable!("clap requires one of --machine and --evidence-dir"),
    };
    match fetch(&args.url, &args.resource, &attester).and_then(|released| {
        write_secret(&args.out, &released.secret)?;
        Ok(released)
    }) {
        Ok(released) => {
            let t = released.times;
            println!(
                "agent: {} released: {} bytes written to {} (auth {:.1} ms, evidence {:.2} s, attest {:.1} ms, \
                 resource {:.1} ms)",
                args.resource,
                released.secret.len(),
                args.out.display(),
                t.auth.as_secs_f64() * 1e3,
                t.evidence.as_secs_f64(),
                t.attest.as_secs_f64() * 1e3,
                t.resource.as_secs_f64() * 1e3
            );
        }
        Err(error) => {
            eprintln!("agent: {error}");
            std::process::exit(1);
        }
    }
}

/// Writes the secret readable by its owner only.
fn write_secret(path: &std::path::Path, secret: &[u8]) -> Result<(), warden_kbs_agent::AgentError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| warden_kbs_agent::AgentError::Usage(format!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(secret).map_err(fail)
}
