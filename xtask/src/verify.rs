//! `cargo xtask verify`: what a relying party does with the published reference values before it trusts
//! an image: check the signature with a key it already trusts, then recompute the image's measurements
//! and require them to equal the signed ones.
use std::path::PathBuf;

use p384::ecdsa::VerifyingKey;
use p384::pkcs8::DecodePublicKey;

use crate::reference_values::{self, ENVELOPE_FILE, PUBLIC_KEY_FILE};

/// Verify an image against its signed reference values.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The IGVM image [default: target/warden/warden.igvm].
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// The DSSE envelope [default: target/warden/reference-values.dsse.json].
    #[arg(long)]
    pub reference_values: Option<PathBuf>,
    /// The verifying key you trust (SPKI PEM) [default: target/warden/reference-values.pub.pem, which
    /// proves only that the files agree with each other].
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

/// Verifies; an error says which check failed.
pub fn run(args: &Args) -> crate::Result {
    let out = crate::build::output_dir();
    let read = |path: Option<&PathBuf>, default: &str| -> crate::Result<(PathBuf, Vec<u8>)> {
        let path = path.cloned().unwrap_or_else(|| out.join(default));
        let bytes =
            std::fs::read(&path).map_err(|e| format!("verify: cannot read {}: {e}", path.display()))?;
        Ok((path, bytes))
    };
    let (key_path, key_pem) = read(args.public_key.as_ref(), PUBLIC_KEY_FILE)?;
    let key = VerifyingKey::from_public_key_pem(std::str::from_utf8(&key_pem)?)
        .map_err(|e| format!("verify: {} is not a P-384 public key: {e}", key_path.display()))?;
    let (_, envelope) = read(args.reference_values.as_ref(), ENVELOPE_FILE)?;
    let values = reference_values::verify_reference_values(&envelope, &key)?;
    let (image_path, image) = read(args.image.as_ref(), "warden.igvm")?;
    let measured = crate::measure::measure(&image, values.measurements.vcpus)?;
    if measured != values.measurements {
        return Err(format!(
            "verify: {} does not match the signed reference values (signed SNP digest {}, measured {})",
            image_path.display(),
            crate::measure::hex(&values.measurements.snp_launch_digest),
            crate::measure::hex(&measured.snp_launch_digest)
        )
        .into());
    }
    println!(
        "verified: {} is {} {} ({}), SNP launch digest {}, TDX MRTD {}, signed by {}{}",
        image_path.display(),
        values.identity.name,
        values.identity.version,
        values.identity.git_commit,
        crate::measure::hex(&measured.snp_launch_digest),
        crate::measure::hex(&measured.tdx_mrtd),
        values.key_id,
        if values.insecure { " (INSECURE test key: development only)" } else { "" }
    );
    Ok(())
}
