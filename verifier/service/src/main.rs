//! `warden-verifier`: see the library's documentation; this file only dispatches the command line.
use std::process::ExitCode;

use clap::Parser;
use warden_verifier::admin;
use warden_verifier::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome: Result<(), String> = match cli.command {
        Command::Serve(args) => warden_verifier::server::run(&args).await.map_err(|e| e.to_string()),
        Command::Resource(command) => admin::resource(command).await.map_err(|e| e.to_string()),
        Command::ReferenceValues(command) => {
            admin::reference_values(command).await.map_err(|e| e.to_string())
        }
        Command::Policy(command) => admin::policy(command).await.map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("warden-verifier: {message}");
            ExitCode::FAILURE
        }
    }
}
