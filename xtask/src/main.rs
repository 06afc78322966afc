//! `cargo xtask`: build Warden's image, measure it, boot it, test it, benchmark it.
//!
//! Every subcommand is one module below; its doc comments are the help text.
//!
//! `unsafe`: three sites, each with its `// SAFETY:` argument: the QEMU child's parent-death signal
//! (`qemu.rs`), the simulated acceptors of `bench accept`, and the thread CPU clock of `bench hash`.
mod attest;
mod bench;
mod bridge;
mod build;
mod corim;
mod demo;
mod deps;
mod event_log;
mod evidence;
mod firmware_target;
mod igvm;
mod image;
mod lint;
mod machine;
mod measure;
mod native_measurement;
mod qemu;
mod qemu_build;
mod qemu_igvm_checks;
mod qemu_loader;
mod reference_values;
mod run;
mod shared_ram;
mod test;
mod threat_model;
mod tpm_server;
mod trustee_sample;
mod verify;

use clap::{Parser, Subcommand};

/// The error every subcommand returns: a message for the person at the terminal.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The result every subcommand returns.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// Warden's build and test tool.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the firmware, the boot ROM and the IGVM image under target/warden/.
    Build(build::Args),
    /// Run the lints: rustfmt, and clippy with warnings as errors on the host crates and the firmware.
    Lint(lint::Args),
    /// Compute the expected launch measurements (SNP launch digest, TDX MRTD) of the built image.
    Measure(measure::Args),
    /// Build and boot Warden under QEMU (KVM when /dev/kvm works, TCG otherwise), console on the terminal.
    Run(run::Args),
    /// Build an IGVM-capable QEMU once (cached under ~/.cache/warden) and print where it is.
    Qemu(qemu_build::Args),
    /// Run every test: host unit tests, the in-firmware test image, the integration tests, a short fuzz run.
    Test(test::Args),
    /// Run a benchmark and write its figures as JSON.
    Bench(bench::Args),
    /// Serve the vTPM engine over the TPM simulator (mssim) TCP protocol on ports N and N+1.
    TpmServer(tpm_server::Args),
    /// Check an image, or attestation evidence (`--evidence DIR`), against the signed reference values.
    Verify(verify::Args),
    /// Boot the image with the test guest on the emulated SNP machine and write its attestation evidence.
    Attest(attest::Args),
    /// The whole chain: signed reference values, the verifier, the agent; a secret released to the image
    /// and refused to a one-byte-changed copy.
    Demo(demo::Args),
}

fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Build(args) => build::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Measure(args) => measure::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Qemu(args) => qemu_build::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::TpmServer(args) => tpm_server::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Attest(args) => attest::run(&args),
        Command::Demo(args) => demo::run(&args),
    };
    if let Err(error) = outcome {
        eprintln!("xtask: error: {error}");
        std::process::exit(1);
    }
}
