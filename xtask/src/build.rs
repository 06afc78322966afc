//! `cargo xtask build`: the firmware and the boot stub (cargo, for x86_64-unknown-none), then the image
//! assembled from them, written as the `-bios` boot ROM and the IGVM file, under `target/warden/`; and
//! the release firmware with the bundled test guest (`tests/guest`) as two more IGVM files, one that
//! loads the guest on SEV-SNP and one that loads it on TDX (as the TD's L2).
use std::path::{Path, PathBuf};

use crate::image::{self, GuestPlatform, Image};

/// Build Warden.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A release build: no insecure test image, and no insecure signing key.
    #[arg(long)]
    pub release: bool,
    /// The ECDSA P-384 key (PEM) that signs the reference values; without it an insecure test key does.
    #[arg(long, value_name = "PATH")]
    pub signing_key: Option<PathBuf>,
    /// The vCPU count the published measurements are computed for.
    #[arg(long, default_value_t = 1)]
    pub vcpus: u32,
}

impl Default for Args {
    fn default() -> Self {
        Self { release: false, signing_key: None, vcpus: 1 }
    }
}

/// Where the build writes its outputs.
pub fn output_dir() -> PathBuf {
    workspace_root().join("target/warden")
}

/// The workspace root: the xtask crate's parent, or `WARDEN_WORKSPACE` (the reproducibility test builds
/// a second checkout of the same commit with the same xtask binary).
pub fn workspace_root() -> PathBuf {
    match std::env::var_os("WARDEN_WORKSPACE") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .to_path_buf(),
    }
}

/// A built image and the files written for it.
#[derive(Debug)]
pub struct Built {
    /// The assembled image.
    pub image: Image,
    /// The `-bios` ROM.
    pub rom: PathBuf,
}

/// Runs `cargo build` for one firmware-side binary and returns its ELF path.
fn cargo_build(package: &str, binary: &str, features: &[&str]) -> crate::Result<PathBuf> {
    let target_dir = output_dir().join("cargo");
    let mut command = crate::firmware_target::cargo("build")?;
    command.args(["--quiet", "--release", "--package", package]).env("CARGO_TARGET_DIR", &target_dir);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let status = command.status()?;
    if !status.success() {
        return Err(format!("building {package} failed ({status})").into());
    }
    Ok(target_dir.join(crate::firmware_target::TRIPLE).join("release").join(binary))
}

/// Builds one flavour of the firmware and writes its ELF, ROM (and IGVM for the release flavour).
fn build_flavour(name: &str, features: &[&str], stub_elf: &[u8]) -> crate::Result<Built> {
    let elf_path = cargo_build("warden-kernel", "warden", features)?;
    let elf = std::fs::read(&elf_path)?;
    let out = output_dir();
    std::fs::write(out.join(format!("{name}.elf")), &elf)?;
    let image = image::assemble(&elf, stub_elf)?;
    let rom = out.join(format!("{name}.rom"));
    std::fs::write(&rom, image::rom::write(&image.pages)?)?;
    Ok(Built { image, rom })
}

/// One build of the firmware: its output name and the kernel features it is compiled with.
#[derive(Debug)]
struct Flavour {
    name: &'static str,
    features: &'static [&'static str],
    what: &'static str,
}

/// The product: no feature, so no test hook (threat model T8).
const RELEASE_FLAVOUR: Flavour = Flavour { name: "warden", features: &[], what: "release" };

/// The insecure flavours: the in-firmware test suite (`cargo xtask test`) and the benchmark images
/// (`cargo xtask bench hash|boot`).
const INSECURE_FLAVOURS: [Flavour; 3] = [
    Flavour { name: "warden-test", features: &["insecure_test_image"], what: "insecure test image" },
    Flavour { name: "warden-bench", features: &["insecure_bench_image"], what: "insecure benchmark image" },
    Flavour {
        name: "warden-baseline",
        features: &["insecure_baseline_image"],
        what: "insecure benchmark image",
    },
];

/// The flavours a build compiles besides the release one: none in a release build.
fn insecure_flavours(release: bool) -> &'static [Flavour] {
    if release { &[] } else { &INSECURE_FLAVOURS }
}

/// Builds everything; prints where it went.
pub fn build(args: &Args) -> crate::Result {
    use crate::reference_values::{self, ReferenceKey};

    // The key first: a release build with the test key stops before any work.
    let key = ReferenceKey::load(args.signing_key.as_deref())?;
    if args.release {
        reference_values::refuse_insecure_for_release(&key)?;
    }
    std::fs::create_dir_all(output_dir())?;
    let stub_path = cargo_build("warden-boot", "warden-boot", &[])?;
    let stub_elf = std::fs::read(stub_path)?;

    let firmware = build_flavour(RELEASE_FLAVOUR.name, RELEASE_FLAVOUR.features, &stub_elf)?;
    let igvm_path = output_dir().join("warden.igvm");
    let igvm = crate::igvm::write_igvm(&firmware.image, crate::igvm::SNP_POLICY)?;
    std::fs::write(&igvm_path, &igvm)?;
    let mut measurements = crate::measure::measure(&igvm, args.vcpus)?;
    // The same firmware ELF boots natively from `warden.rom`: its PCR 0 value is published too.
    let elf = std::fs::read(output_dir().join(format!("{}.elf", RELEASE_FLAVOUR.name)))?;
    measurements.native_image_digest = Some(crate::native_measurement::native_image_digest(&elf)?);
    let identity = reference_values::workspace_identity(&workspace_root(), "warden.igvm")?;
    let files = reference_values::write_reference_values(
        &output_dir(),
        &identity,
        &measurements,
        crate::igvm::SNP_POLICY,
        &key,
    )?;
    let guest_igvms = build_guest_images(&firmware.image)?;
    if let Some([path, _]) = &guest_igvms {
        // What `attest` boots gets its own signed values: a relying party checks its MEASUREMENT.
        let guest_measurements = crate::measure::measure(&std::fs::read(path)?, args.vcpus)?;
        let guest_identity = reference_values::workspace_identity(&workspace_root(), SNP_GUEST_IGVM)?;
        reference_values::write_reference_values(
            &output_dir(),
            &guest_identity,
            &guest_measurements,
            crate::igvm::SNP_POLICY,
            &key,
        )?;
    }
    let insecure_images = insecure_flavours(args.release)
        .iter()
        .map(|flavour| build_flavour(flavour.name, flavour.features, &stub_elf))
        .collect::<crate::Result<Vec<_>>>()?;

    println!("built {} ({} pages)", firmware.rom.display(), firmware.image.pages.len());
    println!("built {}", igvm_path.display());
    match &guest_igvms {
        Some([snp, tdx]) => {
            println!("built {} (with the bundled test guest, SEV-SNP)", snp.display());
            println!("built {} (with the bundled test guest as the TD's L2, TDX)", tdx.display());
        }
        None => println!(
            "no {GUEST_PACKAGE} in this tree ({GUEST_MANIFEST}): {SNP_GUEST_IGVM} and {TDX_GUEST_IGVM} not written"
        ),
    }
    println!(
        "built {} (signed by {}{})",
        files.envelope.display(),
        key.key_id(),
        if key.is_insecure() { ": INSECURE test key, development only" } else { "" }
    );
    for (flavour, built) in insecure_flavours(args.release).iter().zip(&insecure_images) {
        if flavour.name == "warden-test" {
            // The test image as an IGVM file too, so that the in-firmware suite runs through QEMU's loader.
            let test_igvm = output_dir().join("warden-test.igvm");
            std::fs::write(&test_igvm, crate::igvm::write_igvm(&built.image, crate::igvm::SNP_POLICY)?)?;
            println!("built {} and {} ({})", built.rom.display(), test_igvm.display(), flavour.what);
            continue;
        }
        println!("built {} ({})", built.rom.display(), flavour.what);
    }
    Ok(())
}

/// The bundled test guest's package, binary and manifest.
const GUEST_PACKAGE: &str = "warden-test-guest";
const GUEST_MANIFEST: &str = "tests/guest/Cargo.toml";
/// The IGVM file of the release firmware with the test guest on SEV-SNP, next to `warden.igvm`.
pub const SNP_GUEST_IGVM: &str = "warden-snp-guest.igvm";
/// The IGVM file of the release firmware with the test guest on TDX, as the TD's L2.
pub const TDX_GUEST_IGVM: &str = "warden-tdx-guest.igvm";

/// Builds the bundled test guest (one ELF for both platforms) and writes the release firmware with it
/// as [`SNP_GUEST_IGVM`] and [`TDX_GUEST_IGVM`], in that order; `None` when the tree has no test guest.
fn build_guest_images(firmware: &Image) -> crate::Result<Option<[PathBuf; 2]>> {
    if !workspace_root().join(GUEST_MANIFEST).exists() {
        return Ok(None);
    }
    let guest_elf = std::fs::read(cargo_build(GUEST_PACKAGE, GUEST_PACKAGE, &[])?)?;
    let write = |platform, name| -> crate::Result<PathBuf> {
        let image = image::guest::add(firmware, &guest_elf, platform)?;
        let path = output_dir().join(name);
        std::fs::write(&path, crate::igvm::write_igvm(&image, crate::igvm::SNP_POLICY)?)?;
        Ok(path)
    };
    Ok(Some([write(GuestPlatform::Snp, SNP_GUEST_IGVM)?, write(GuestPlatform::Tdx, TDX_GUEST_IGVM)?]))
}

/// `cargo xtask build`.
pub fn run(args: &Args) -> crate::Result {
    build(args)
}

#[cfg(test)]
mod tests {
    use super::{INSECURE_FLAVOURS, RELEASE_FLAVOUR, insecure_flavours};

    /// Threat model T8: `build --release` compiles no insecure flavour, the release flavour enables no
    /// kernel feature, and every kernel feature is named `insecure_*` (so a test hook cannot hide behind
    /// a harmless-sounding feature the release flavour might one day enable).
    #[test]
    fn a_release_build_compiles_no_insecure_flavour() {
        assert!(insecure_flavours(true).is_empty());
        assert_eq!(insecure_flavours(false).len(), INSECURE_FLAVOURS.len());
        assert!(RELEASE_FLAVOUR.features.is_empty());
        let manifest = include_str!("../../firmware/kernel/Cargo.toml");
        let features: Vec<&str> = manifest
            .split("[features]")
            .nth(1)
            .expect("the kernel declares features")
            .lines()
            .take_while(|line| !line.starts_with('['))
            .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
            .filter(|name| !name.starts_with('#'))
            .collect();
        assert!(!features.is_empty());
        for feature in &features {
            assert!(feature.starts_with("insecure_"), "kernel feature {feature} is not named insecure_*");
        }
        for flavour in &INSECURE_FLAVOURS {
            assert!(flavour.features.iter().all(|f| features.contains(f)), "{flavour:?}");
        }
    }
}
