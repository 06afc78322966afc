//! The command line: `serve` runs the HTTP service; `resource`, `reference-values` and `policy` are
//! the administrator's commands on the same store.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The verifier's command line.
#[derive(Debug, Parser)]
#[command(
    name = "warden-verifier",
    about = "Releases secrets only to a Warden guest whose attestation matches"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the KBS attestation protocol over HTTP.
    Serve(ServeArgs),
    /// Add, list or remove secrets.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Store signed reference values (their signature is checked first).
    #[command(subcommand, name = "reference-values")]
    ReferenceValues(ReferenceValuesCommand),
    /// Set resource policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

/// The store every subcommand works on.
#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// `sqlite://PATH` (created if missing) or `postgres://...`.
    #[arg(long)]
    pub store: String,
    /// The 32-byte key resources are encrypted under at rest (raw or 64 hex digits).
    #[arg(long)]
    pub store_key: PathBuf,
}

/// `serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The ES384 token signing key (PKCS#8 or SEC1 PEM); generated and written here if missing.
    #[arg(long)]
    pub token_key: Option<PathBuf>,
    /// The session cookie key every replica shares (32+ bytes); derived from the store key if absent.
    #[arg(long)]
    pub session_key: Option<PathBuf>,
    /// A test ARK (PEM) trusted instead of AMD's pinned roots.
    #[arg(long)]
    pub ark: Option<PathBuf>,
    /// How long a challenge and a token stay valid, seconds.
    #[arg(long, default_value_t = 300)]
    pub session_seconds: u64,
}

/// `resource put|list|rm`.
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Store a secret at `<repo>/<type>/<tag>` under a named policy.
    Put {
        #[command(flatten)]
        store: StoreArgs,
        /// `<repo>/<type>/<tag>`.
        path: String,
        /// The file holding the secret.
        #[arg(long)]
        file: PathBuf,
        /// The policy that guards it.
        #[arg(long)]
        policy: String,
    },
    /// List the stored resources and their policies.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a resource.
    Rm {
        #[command(flatten)]
        store: StoreArgs,
        /// `<repo>/<type>/<tag>`.
        path: String,
    },
}

/// `reference-values add`.
#[derive(Debug, Subcommand)]
pub enum ReferenceValuesCommand {
    /// Check a DSSE envelope (`*.reference-values.dsse.json`) with a trusted key and store it.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// The envelope.
        file: PathBuf,
        /// The trusted public key (SPKI PEM).
        #[arg(long)]
        key: PathBuf,
    },
}

/// `policy set`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Store (or replace) a named resource policy from a JSON file.
    Set {
        #[command(flatten)]
        store: StoreArgs,
        /// The policy's name.
        name: String,
        /// The policy JSON.
        file: PathBuf,
    },
}
