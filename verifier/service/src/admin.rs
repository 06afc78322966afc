//! The administrator's commands on a store: `resource put|list|rm`, `reference-values add` and
//! `policy set`. Each reads and checks its input completely before it writes anything, so a refused
//! command leaves the store as it was.
use std::path::Path;

use p384::ecdsa::VerifyingKey;
use p384::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use warden_evidence::reference_values::{ReferenceValuesError, verify_reference_values};

use crate::cli::{PolicyCommand, ReferenceValuesCommand, ResourceCommand, StoreArgs};
use crate::policy::ResourcePolicy;
use crate::store::{
    self, InvalidResourcePath, ResourcePath, Store, StoreError, StoreKey, StoredReferenceValues,
};

/// Why an administrator's command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A file named on the command line is unreadable.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A resource path is not `<repo>/<type>/<tag>`.
    #[error(transparent)]
    Path(#[from] InvalidResourcePath),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trusted key is not a P-384 public key in SPKI PEM.
    #[error("{0} is not a P-384 public key (SPKI PEM)")]
    Key(String),
    /// The envelope's signature or statement was refused: nothing was stored.
    #[error("{0}: refused, nothing stored")]
    ReferenceValues(#[from] ReferenceValuesError),
    /// The policy file is not a valid resource policy.
    #[error("policy: {0}")]
    Policy(String),
    /// `resource put` named a policy the store does not have.
    #[error(
        "no policy named {0:?}: `policy set` it first (a resource under a missing policy is never released)"
    )]
    UnknownPolicy(String),
    /// `resource rm` named no stored resource.
    #[error("no resource at {0}")]
    NoSuchResource(String),
}

/// Runs `resource ...`.
pub async fn resource(command: ResourceCommand) -> Result<(), AdminError> {
    match command {
        ResourceCommand::Put { store, path, file, policy } => {
            let path: ResourcePath = path.parse()?;
            let secret = Zeroizing::new(read(&file)?);
            let store = open(&store).await?;
            if store.policy(&policy).await?.is_none() {
                return Err(AdminError::UnknownPolicy(policy));
            }
            store.put_resource(&path, &secret, &policy).await?;
            println!("stored {path} ({} bytes, sealed), policy {policy}", secret.len());
        }
        ResourceCommand::List { store } => {
            for (path, policy) in open(&store).await?.list_resources().await? {
                println!("{path}\t{policy}");
            }
        }
        ResourceCommand::Rm { store, path } => {
            let path: ResourcePath = path.parse()?;
            if !open(&store).await?.remove_resource(&path).await? {
                return Err(AdminError::NoSuchResource(path.to_string()));
            }
            println!("removed {path}");
        }
    }
    Ok(())
}

/// Runs `reference-values add`: the envelope's signature is checked with the trusted key before a byte
/// of it is stored.
pub async fn reference_values(command: ReferenceValuesCommand) -> Result<(), AdminError> {
    let ReferenceValuesCommand::Add { store, file, key } = command;
    let pem = String::from_utf8(read(&key)?).map_err(|_| AdminError::Key(key.display().to_string()))?;
    let key =
        VerifyingKey::from_public_key_pem(&pem).map_err(|_| AdminError::Key(key.display().to_string()))?;
    let values = verify_reference_values(&read(&file)?, &key)?;
    let stored = StoredReferenceValues {
        id: reference_values_id(&values.identity.file_name, &values.payload),
        image: values.identity.file_name.clone(),
        measurements: vec![values.measurements.snp_launch_digest],
        policy: values.snp_policy,
        payload: values.payload,
    };
    let id = stored.id.clone();
    open(&store).await?.add_reference_values(stored).await?;
    println!("stored reference values {id} (signed by {})", values.key_id);
    if values.insecure {
        println!("warning: signed with the INSECURE test key: anyone can sign such values");
    }
    Ok(())
}

/// The id of signed reference values: the image's file name and the SHA-256 of the signed statement,
/// so the same envelope always gets the same id and different values never share one.
pub fn reference_values_id(image: &str, payload: &[u8]) -> String {
    format!("{image}@sha256:{}", hex::encode(Sha256::digest(payload)))
}

/// Runs `policy set`: the JSON must be a complete [`ResourcePolicy`] (unknown fields refused).
pub async fn policy(command: PolicyCommand) -> Result<(), AdminError> {
    let PolicyCommand::Set { store, name, file } = command;
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(AdminError::Policy(format!(
            "bad policy name {:?}",
            name.chars().take(64).collect::<String>()
        )));
    }
    let policy: ResourcePolicy = serde_json::from_slice(&read(&file)?)
        .map_err(|e| AdminError::Policy(format!("{}: {e}", file.display())))?;
    let store = open(&store).await?;
    let known: Vec<String> = store.reference_values().await?.into_iter().map(|v| v.id).collect();
    for id in policy.reference_values.iter().filter(|id| !known.contains(id)) {
        println!("warning: policy {name} names reference values {id}, which are not stored (yet)");
    }
    store.set_policy(&name, &policy).await?;
    println!("policy {name} set");
    Ok(())
}

async fn open(args: &StoreArgs) -> Result<std::sync::Arc<dyn Store>, AdminError> {
    Ok(store::open(&args.store, StoreKey::from_file(&args.store_key)?).await?)
}

fn read(path: &Path) -> Result<Vec<u8>, AdminError> {
    std::fs::read(path)
        .map_err(|e| AdminError::Read { path: path.display().to_string(), reason: e.to_string() })
}
