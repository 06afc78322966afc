//! `cargo xtask verify`: what a relying party does with the published reference values before it trusts
//! an image: check the signature with a key it already trusts, then recompute the image's measurements
//! and require them to equal the signed ones.
//!
//! With `--evidence DIR` it checks attestation evidence instead (what `attest` wrote) against those
//! signed values, through the `warden-evidence` library a verification service would embed: one line
//! per check, and an error when any fails.
use std::path::{Path, PathBuf};
use std::time::Instant;

use p384::ecdsa::VerifyingKey;
use p384::pkcs8::DecodePublicKey;

use warden_evidence::{Expected, TcbVersion, TrustAnchors};

use crate::build::SNP_GUEST_IGVM;
use crate::measure::Measurements;
use crate::reference_values::{self, ENVELOPE_FILE, PUBLIC_KEY_FILE, ReferenceValues};

/// Verify an image against its signed reference values.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The IGVM image [default: target/warden/warden.igvm].
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// The DSSE envelope [default: target/warden/reference-values.dsse.json, or with `--evidence` the
    /// values of the image with the test guest, target/warden/warden-snp-guest.reference-values.dsse.json].
    #[arg(long)]
    pub reference_values: Option<PathBuf>,
    /// The verifying key you trust (SPKI PEM) [default: target/warden/reference-values.pub.pem, which
    /// proves only that the files agree with each other].
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Verify the evidence in this directory (`cargo xtask attest --out DIR`) instead of an image.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// Trust only this ARK (PEM) instead of AMD's built-in Milan, Genoa and Turin ARKs: for test
    /// hierarchies such as the emulated machine's.
    #[arg(long, value_name = "PEM", requires = "evidence")]
    pub ark: Option<PathBuf>,
    /// The EK (marshaled TPMT_PUBLIC) read from the vTPM: the manifest's must be this one.
    #[arg(long, value_name = "FILE", requires = "evidence")]
    pub ek: Option<PathBuf>,
    /// The oldest TCB accepted, `BOOTLOADER.TEE.SNP.MICROCODE[.FMC]` [default: any].
    #[arg(long, value_name = "SVNS", requires = "evidence")]
    pub minimum_tcb: Option<String>,
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
    if let Some(dir) = &args.evidence {
        let (_, envelope) =
            read(args.reference_values.as_ref(), &reference_values::envelope_file(SNP_GUEST_IGVM))?;
        let values = reference_values::verify_reference_values(&envelope, &key)?;
        return verify_evidence(args, dir, &values);
    }
    let (envelope_path, envelope) = read(args.reference_values.as_ref(), ENVELOPE_FILE)?;
    let values = reference_values::verify_reference_values(&envelope, &key)?;
    let (image_path, image) = read(args.image.as_ref(), "warden.igvm")?;
    let measured = crate::measure::measure(&image, values.measurements.vcpus)?;
    // What the IGVM file decides. The native launch measurement comes from the firmware ELF, which
    // `verify` is not given: it is published, not checked here (`measure --json` recomputes it).
    let from_igvm = |m: &Measurements| (m.vcpus, m.snp_launch_digest, m.tdx_mrtd, m.image_sha256);
    if from_igvm(&measured) != from_igvm(&values.measurements) {
        return Err(format!(
            "verify: {} does not match the signed reference values (signed SNP digest {}, measured {})",
            image_path.display(),
            crate::measure::hex(&values.measurements.snp_launch_digest),
            crate::measure::hex(&measured.snp_launch_digest)
        )
        .into());
    }
    let other_forms = check_other_forms(&envelope_path, &values, &key, &measured)?;
    println!(
        "verified: {} is {} {} ({}), SNP launch digest {}, TDX MRTD {}, signed by {}{}{other_forms}",
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

/// The CoRIM and Trustee sample written beside the envelope must carry the measured digest too (the
/// CoRIM's signature checked with the same key). Says which it checked.
fn check_other_forms(
    envelope: &Path,
    values: &ReferenceValues,
    key: &VerifyingKey,
    measured: &Measurements,
) -> crate::Result<String> {
    let dir = envelope.parent().unwrap_or(Path::new("."));
    let sibling = |name: &str| {
        dir.join(reference_values::envelope_file(&values.identity.file_name).replace(ENVELOPE_FILE, name))
    };
    let mut checked = String::new();
    if let Ok(corim) = std::fs::read(sibling(crate::corim::CORIM_FILE)) {
        if crate::corim::verify_corim(&corim, key)? != measured.snp_launch_digest {
            return Err("verify: the CoRIM's MEASUREMENT is not the image's".into());
        }
        checked.push_str(", CoRIM agrees");
    }
    if let Ok(sample) = std::fs::read(sibling(crate::trustee_sample::SAMPLE_FILE)) {
        if !crate::trustee_sample::measurements_of(&sample)?
            .contains(&crate::measure::hex(&measured.snp_launch_digest))
        {
            return Err("verify: Trustee's sample message does not carry the image's measurement".into());
        }
        checked.push_str(", Trustee sample agrees");
    }
    Ok(checked)
}

/// Checks the evidence in `dir` against `values`; prints one line per check.
fn verify_evidence(args: &Args, dir: &Path, values: &ReferenceValues) -> crate::Result {
    let roots = match &args.ark {
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|e| format!("verify: cannot read {}: {e}", path.display()))?;
            TrustAnchors::only(&pem)
                .map_err(|e| format!("verify: {} is not a self-signed ARK: {e}", path.display()))?
        }
        None => TrustAnchors::amd(),
    };
    let expected = Expected {
        measurements: vec![values.measurements.snp_launch_digest],
        policy: values.snp_policy,
        minimum_tcb: args.minimum_tcb.as_deref().map(parse_tcb).transpose()?.unwrap_or_default(),
        ek_public: args.ek.as_ref().map(std::fs::read).transpose()?,
    };
    let evidence = crate::evidence::read_dir(dir)?;
    let started = Instant::now();
    let verdict = warden_evidence::verify(&evidence, &roots, &expected);
    let took = started.elapsed();
    println!(
        "verify: evidence in {} against {} {} ({}), reference values signed by {}{}",
        dir.display(),
        values.identity.file_name,
        values.identity.version,
        values.identity.git_commit,
        values.key_id,
        if values.insecure { " (INSECURE test key: development only)" } else { "" }
    );
    for (check, outcome) in &verdict.checks {
        match outcome {
            Ok(detail) => println!("  pass  {}: {detail}", check.name()),
            Err(failure) => println!("  FAIL  {}: {failure}", check.name()),
        }
    }
    let passed = verdict.checks.iter().filter(|(_, o)| o.is_ok()).count();
    println!(
        "verify: {passed} of {} checks passed ({:.1} ms)",
        verdict.checks.len(),
        took.as_secs_f64() * 1e3
    );
    if !verdict.passed() {
        return Err("verify: the evidence does not verify".into());
    }
    if roots.is_custom() {
        println!(
            "verify: the chain ends in the ARK given with --ark, not AMD's: this proves nothing about real hardware"
        );
    }
    Ok(())
}

/// `BOOTLOADER.TEE.SNP.MICROCODE[.FMC]`.
fn parse_tcb(text: &str) -> crate::Result<TcbVersion> {
    let svns: Vec<u8> = text
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("verify: --minimum-tcb {text}: not numbers 0..=255"))?;
    match svns[..] {
        [bootloader, tee, snp, microcode] => Ok(TcbVersion { fmc: 0, bootloader, tee, snp, microcode }),
        [bootloader, tee, snp, microcode, fmc] => Ok(TcbVersion { fmc, bootloader, tee, snp, microcode }),
        _ => Err(format!("verify: --minimum-tcb {text}: BOOTLOADER.TEE.SNP.MICROCODE[.FMC]").into()),
    }
}
