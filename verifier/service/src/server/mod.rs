//! `warden-verifier serve`: the HTTP service. The router, its limits (1 MiB bodies, JSON only), and
//! the start-up that turns the command line into a [`Config`]: the store, the token key, the session
//! key and the trusted roots.
mod error;
mod handlers;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use warden_evidence::TrustAnchors;

pub use error::ApiError;

use crate::cli::ServeArgs;
use crate::session::SessionKey;
use crate::store::{self, Store, StoreError, StoreKey};
use crate::token::{TokenKey, TokenKeyError};

/// The largest request body accepted; an attestation is a few KiB.
pub const BODY_LIMIT: usize = 1 << 20;

/// What the handlers share.
#[derive(Debug)]
pub struct Config {
    /// Resources, reference values, policies, used challenges.
    pub store: Arc<dyn Store>,
    /// The ARKs the evidence's chain must end in.
    pub roots: TrustAnchors,
    /// Signs and checks attestation tokens.
    pub token_key: TokenKey,
    /// Signs and checks session cookies.
    pub session_key: SessionKey,
    /// How long a challenge and a token stay valid.
    pub session_seconds: u64,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token key.
    #[error(transparent)]
    TokenKey(#[from] TokenKeyError),
    /// The session key file.
    #[error("session key {0}: {1}")]
    SessionKey(String, String),
    /// The `--ark` file.
    #[error("ARK {0}: {1}")]
    Ark(String, String),
    /// Binding or serving.
    #[error("listening: {0}")]
    Io(#[from] std::io::Error),
}

/// The service's routes over `config`.
pub fn router(config: Config) -> Router {
    Router::new()
        .route("/kbs/v0/auth", post(handlers::auth))
        .route("/kbs/v0/attest", post(handlers::attest))
        .route("/kbs/v0/resource/{repo}/{kind}/{tag}", get(handlers::resource))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(config))
}

/// A bound, not yet serving, service (tests bind port 0 and read the address).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    app: Router,
}

impl Server {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr, config: Config) -> std::io::Result<Self> {
        Ok(Self { listener: TcpListener::bind(addr).await?, app: router(config) })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.app).with_graceful_shutdown(shutdown).await
    }
}

/// `serve`: builds the configuration from the command line and serves until Ctrl-C.
pub async fn run(args: &ServeArgs) -> Result<(), ServeError> {
    let store_key = StoreKey::from_file(&args.store.store_key)?;
    let session_key = match &args.session_key {
        Some(path) => {
            let name = path.display().to_string();
            let bytes =
                std::fs::read(path).map_err(|e| ServeError::SessionKey(name.clone(), e.to_string()))?;
            SessionKey::new(bytes).ok_or(ServeError::SessionKey(name, "shorter than 32 bytes".into()))?
        }
        None => SessionKey::derived_from(&store_key),
    };
    let token_key = match &args.token_key {
        Some(path) => TokenKey::load_or_create(path)?,
        None => TokenKey::generate(),
    };
    let roots = match &args.ark {
        Some(path) => {
            let name = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| ServeError::Ark(name.clone(), e.to_string()))?;
            TrustAnchors::only(&pem).map_err(|e| ServeError::Ark(name, e.to_string()))?
        }
        None => TrustAnchors::amd(),
    };
    let store = store::open(&args.store.store, store_key).await?;
    let config = Config { store, roots, token_key, session_key, session_seconds: args.session_seconds };
    let server = Server::bind(args.listen, config).await?;
    eprintln!("warden-verifier: listening on http://{}", server.local_addr()?);
    server
        .serve(async {
            // Without a signal handler the process ends on Ctrl-C anyway; with one, in-flight
            // requests finish first.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
