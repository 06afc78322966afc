//! `warden-verifier`: see the library's documentation; this file only dispatches the command line.
use std::process::ExitCode;

use clap::Parser;
use warden_verifier::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome: Result<(), String> = match cli.command {
        Command::Serve(args) => warden_verifier::server::run(&args).await.map_err(|e| e.to_string()),
        // TODO(VSTORE, branch wip-vstore): the admin commands.
        Command::Resource(_) | Command::ReferenceValues(_) | Command::Policy(_) => {
            Err("admin commands: not implemented yet (VSTORE, branch wip-vstore)".into())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("warden-verifier: {message}");
            ExitCode::FAILURE
        }
    }
}
