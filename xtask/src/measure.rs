//! `cargo xtask measure`: the expected launch measurements of the built image.
//!
//! The SNP launch digest and the TDX MRTD are computed from the IGVM file exactly as a loader feeds
//! it to the hardware, with the `igvm` crate's measurer; the tests hold them against two independent
//! implementations (a from-the-spec one in `igvm/oracle.rs` and PyPI `sev-snp-measure`).
use std::path::{Path, PathBuf};
use std::time::Instant;

use igvm::{IgvmDirectiveHeader, IgvmFile, IgvmPlatformHeader};
use igvm_defs::IgvmPlatformType;
use sha2::{Digest, Sha256, Sha384};
use zerocopy::IntoBytes;

use crate::Result;

/// Measure the built image.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// How many vCPUs the launch will have.
    #[arg(long, default_value_t = 1)]
    pub vcpus: u32,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The firmware ELF whose native launch measurement to predict [default: target/warden/warden.elf
    /// when `--image` is not given].
    #[arg(long)]
    pub elf: Option<PathBuf>,
    /// The IGVM file to measure [default: target/warden/warden.igvm in the workspace, and
    /// warden-snp-guest.igvm and warden-tdx-guest.igvm next to it if they were built].
    #[arg(long)]
    pub image: Option<PathBuf>,
}

/// The measurements type is shared with the relying party, which reads it back from signed values.
pub use warden_evidence::reference_values::Measurements;

/// The GPA every SNP VMSA is measured at: the one KVM gives SNP_LAUNCH_UPDATE for VMSA pages (the GPA
/// field of PAGE_INFO, SEV-SNP Firmware ABI spec (AMD 56860) §8.17, Table 67), which coconut-svsm's
/// `igvmmeasure --check-kvm` requires and virtee/sev-snp-measure (`gctx.py`) uses.
const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;
/// PAGE_INFO's page type for a VMSA.
const PAGE_TYPE_VMSA: u8 = 2;

/// Measures an IGVM file for a launch with `vcpus` vCPUs.
///
/// The SNP digest covers the file's pages and its VMSA once per vCPU: KVM measures every vCPU's VMSA
/// at launch finish, and the file's VMSA is the only start state it defines (the `snp:svsm` model of
/// `sev-snp-measure`). With one vCPU it is exactly what `igvm` and coconut's `igvmmeasure` compute.
/// The MRTD does not depend on the vCPU count.
pub fn measure(igvm_bytes: &[u8], vcpus: u32) -> Result<Measurements> {
    if vcpus == 0 {
        return Err("measure: a launch has at least one vCPU".into());
    }
    let file = IgvmFile::new_from_binary(igvm_bytes, None)
        .map_err(|e| format!("measure: not a valid IGVM file: {e}"))?;
    let snp = platform_mask(&file, IgvmPlatformType::SEV_SNP)?;
    let tdx = platform_mask(&file, IgvmPlatformType::TDX)?;
    let mut snp_launch_digest =
        igvm::measurement::generate_snp_measurement(file.initializations(), file.directives(), snp)
            .map_err(|e| format!("measure: SNP: {e}"))?;
    let vmsas: Vec<&[u8]> = file
        .directives()
        .iter()
        .filter_map(|h| match h {
            IgvmDirectiveHeader::SnpVpContext { compatibility_mask, vmsa, .. }
                if compatibility_mask & snp != 0 =>
            {
                Some(vmsa.as_bytes())
            }
            _ => None,
        })
        .collect();
    let [vmsa] = vmsas.as_slice() else {
        return Err(format!("measure: expected one SNP VMSA, the file has {}", vmsas.len()).into());
    };
    for _ in 1..vcpus {
        snp_launch_digest = page_info_step(&snp_launch_digest, PAGE_TYPE_VMSA, VMSA_GPA, vmsa);
    }
    let tdx_mrtd = igvm::measurement::generate_tdx_measurement(file.directives(), tdx)
        .map_err(|e| format!("measure: TDX: {e}"))?;
    Ok(Measurements {
        vcpus,
        snp_launch_digest,
        tdx_mrtd,
        image_sha256: Sha256::digest(igvm_bytes).into(),
        native_image_digest: None,
    })
}

/// The compatibility mask the file gives `platform`.
fn platform_mask(file: &IgvmFile, platform: IgvmPlatformType) -> Result<u32> {
    file.platforms()
        .iter()
        .find_map(|IgvmPlatformHeader::SupportedPlatform(p)| {
            (p.platform_type == platform).then_some(p.compatibility_mask)
        })
        .ok_or_else(|| format!("measure: the file does not support {platform:?}").into())
}

/// One SNP_LAUNCH_UPDATE step: `LD = SHA-384(PAGE_INFO)` for a page whose contents are hashed.
fn page_info_step(ld: &[u8; 48], page_type: u8, gpa: u64, page: &[u8]) -> [u8; 48] {
    let mut info = [0u8; 0x70];
    info[..0x30].copy_from_slice(ld);
    info[0x30..0x60].copy_from_slice(&Sha384::digest(page));
    info[0x60..0x62].copy_from_slice(&0x70u16.to_le_bytes());
    info[0x62] = page_type;
    info[0x68..].copy_from_slice(&gpa.to_le_bytes());
    Sha384::digest(info).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The guest images measured beside Warden's: each its path and measurements.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestImages<'a> {
    /// `warden-snp-guest.igvm`: its SNP launch digest is the one that covers the guest.
    pub snp: Option<(&'a Path, &'a Measurements)>,
    /// `warden-tdx-guest.igvm`: its MRTD is the one that covers the guest.
    pub tdx: Option<(&'a Path, &'a Measurements)>,
}

/// The `--json` line of `m`: `image`, `vcpus` and the three digests in hex, in that order; then
/// `native_image_digest` when the ELF was measured; then, for each guest image measured too,
/// `snp_guest_image` and its `snp_guest_launch_digest`, `tdx_guest_image` and its `tdx_guest_mrtd`.
pub fn json_line(m: &Measurements, image: &Path, guests: GuestImages<'_>) -> String {
    let image = serde_json::Value::String(image.display().to_string());
    let path = |path: &Path| serde_json::Value::String(path.display().to_string());
    let mut guest = String::new();
    if let Some((file, g)) = guests.snp {
        guest += &format!(
            r#", "snp_guest_image": {}, "snp_guest_launch_digest": "{}""#,
            path(file),
            hex(&g.snp_launch_digest)
        );
    }
    if let Some((file, g)) = guests.tdx {
        guest += &format!(r#", "tdx_guest_image": {}, "tdx_guest_mrtd": "{}""#, path(file), hex(&g.tdx_mrtd));
    }
    let native = match &m.native_image_digest {
        Some(digest) => format!(r#", "native_image_digest": "{}""#, hex(digest)),
        None => String::new(),
    };
    format!(
        r#"{{"image": {image}, "vcpus": {}, "snp_launch_digest": "{}", "tdx_mrtd": "{}", "image_sha256": "{}"{native}{guest}}}"#,
        m.vcpus,
        hex(&m.snp_launch_digest),
        hex(&m.tdx_mrtd),
        hex(&m.image_sha256),
    )
}

/// Reads and measures one IGVM file.
fn measure_file(image: &Path, vcpus: u32) -> Result<(usize, Measurements)> {
    let bytes = std::fs::read(image)
        .map_err(|e| format!("measure: cannot read {}: {e} (run `cargo xtask build`)", image.display()))?;
    Ok((bytes.len(), measure(&bytes, vcpus)?))
}

/// Prints the measurements.
pub fn run(args: &Args) -> crate::Result {
    let image = args.image.clone().unwrap_or_else(|| crate::build::output_dir().join("warden.igvm"));
    // Without `--image`, the guest images built next to `warden.igvm` are measured too.
    let built = |name: &str| {
        let path = crate::build::output_dir().join(name);
        (args.image.is_none() && path.exists()).then_some(path)
    };
    let (snp_image, tdx_image) = (built(crate::build::SNP_GUEST_IGVM), built(crate::build::TDX_GUEST_IGVM));
    let elf = match (&args.elf, &args.image) {
        (Some(elf), _) => Some(elf.clone()),
        (None, None) => Some(crate::build::output_dir().join("warden.elf")),
        (None, Some(_)) => None,
    };
    let start = Instant::now();
    let (size, mut m) = measure_file(&image, args.vcpus)?;
    if let Some(elf) = &elf {
        let bytes = std::fs::read(elf)
            .map_err(|e| format!("measure: cannot read {}: {e} (run `cargo xtask build`)", elf.display()))?;
        m.native_image_digest = Some(crate::native_measurement::native_image_digest(&bytes)?);
    }
    let elapsed = start.elapsed();
    let snp_guest = snp_image.as_ref().map(|path| measure_file(path, args.vcpus)).transpose()?;
    let tdx_guest = tdx_image.as_ref().map(|path| measure_file(path, args.vcpus)).transpose()?;
    let guests = GuestImages {
        snp: snp_image.as_deref().zip(snp_guest.as_ref().map(|(_, m)| m)),
        tdx: tdx_image.as_deref().zip(tdx_guest.as_ref().map(|(_, m)| m)),
    };
    if args.json {
        println!("{}", json_line(&m, &image, guests));
    } else {
        println!("image              {} ({size} bytes)", image.display());
        println!("vcpus              {}", m.vcpus);
        println!("SNP launch digest  {}", hex(&m.snp_launch_digest));
        println!("TDX MRTD           {}", hex(&m.tdx_mrtd));
        println!("image SHA-256      {}", hex(&m.image_sha256));
        if let (Some(elf), Some(digest)) = (&elf, &m.native_image_digest) {
            println!("native PCR 0 image {} ({})", hex(digest), elf.display());
        }
        println!("computed in        {:.1} ms", elapsed.as_secs_f64() * 1e3);
        if let Some((path, guest)) = guests.snp {
            println!("guest image        {}", path.display());
            println!("SNP launch digest  {} (with the guest)", hex(&guest.snp_launch_digest));
        }
        if let Some((path, guest)) = guests.tdx {
            println!("guest image (TDX)  {}", path.display());
            println!("TDX MRTD           {} (with the guest as the TD's L2)", hex(&guest.tdx_mrtd));
        }
    }
    Ok(())
}
