//! `cargo xtask build`: the firmware and the boot stub (cargo, for x86_64-unknown-none), then the image
//! assembled from them, written as the `-bios` boot ROM and the IGVM file, under `target/warden/`.
use std::path::{Path, PathBuf};

use crate::image::{self, Image};

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

/// Builds everything; prints where it went.
pub fn build(args: &Args) -> crate::Result {
    use crate::reference_values::{self, ImageIdentity, ReferenceKey};

    // The key first: a release build with the test key stops before any work.
    let key = ReferenceKey::load(args.signing_key.as_deref())?;
    if args.release {
        reference_values::refuse_insecure_for_release(&key)?;
    }
    std::fs::create_dir_all(output_dir())?;
    let stub_path = cargo_build("warden-boot", "warden-boot", &[])?;
    let stub_elf = std::fs::read(stub_path)?;

    let firmware = build_flavour("warden", &[], &stub_elf)?;
    let igvm_path = output_dir().join("warden.igvm");
    let igvm = crate::igvm::write_igvm(&firmware.image, crate::igvm::SNP_POLICY)?;
    std::fs::write(&igvm_path, &igvm)?;
    let measurements = crate::measure::measure(&igvm, args.vcpus)?;
    let identity = ImageIdentity::of_workspace(&workspace_root(), "warden.igvm")?;
    let files = reference_values::write_reference_values(
        &output_dir(),
        &identity,
        &measurements,
        crate::igvm::SNP_POLICY,
        &key,
    )?;
    let test_image = if args.release {
        None
    } else {
        Some(build_flavour("warden-test", &["insecure_test_image"], &stub_elf)?)
    };
    // The benchmark images (`cargo xtask bench hash|boot`): insecure flavours, never in a release build.
    let bench_images = if args.release {
        Vec::new()
    } else {
        vec![
            build_flavour("warden-bench", &["insecure_bench_image"], &stub_elf)?,
            build_flavour("warden-baseline", &["insecure_baseline_image"], &stub_elf)?,
        ]
    };

    println!("built {} ({} pages)", firmware.rom.display(), firmware.image.pages.len());
    println!("built {}", igvm_path.display());
    println!(
        "built {} (signed by {}{})",
        files.envelope.display(),
        key.key_id(),
        if key.is_insecure() { ": INSECURE test key, development only" } else { "" }
    );
    if let Some(test) = &test_image {
        // The test image as an IGVM file too, so that the in-firmware suite runs through QEMU's loader.
        let test_igvm = output_dir().join("warden-test.igvm");
        std::fs::write(&test_igvm, crate::igvm::write_igvm(&test.image, crate::igvm::SNP_POLICY)?)?;
        println!("built {} and {} (insecure test image)", test.rom.display(), test_igvm.display());
    }
    for bench in &bench_images {
        println!("built {} (insecure benchmark image)", bench.rom.display());
    }
    Ok(())
}

/// `cargo xtask build`.
pub fn run(args: &Args) -> crate::Result {
    build(args)
}
