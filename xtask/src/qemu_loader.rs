//! Which QEMU boots Warden and through which loader: QEMU's own IGVM loader booting `warden.igvm` (the
//! product) when an IGVM-capable QEMU is on PATH or in the cache (`cargo xtask qemu`), the `-bios` ROM
//! otherwise (Debian's QEMU has no IGVM loader).
use std::path::{Path, PathBuf};

use warden_defs::layout::WARDEN_END;

use crate::qemu::SYSTEM_QEMU;
use crate::qemu_build;

/// Guest RAM when none is asked for.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// How QEMU loads Warden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Loader {
    /// QEMU's IGVM loader boots `warden.igvm`: the boot CPU starts at the file's native VP context.
    Igvm,
    /// QEMU's `-bios` boots `warden.rom`: the same pages behind a reset stub.
    Rom,
}

/// The QEMU binary and loader a boot uses.
#[derive(Clone, Debug)]
pub struct Choice {
    /// The loader.
    pub loader: Loader,
    /// The QEMU binary.
    pub qemu: PathBuf,
}

/// An IGVM-capable QEMU: the one on PATH if it is, else the cached build.
pub fn find_igvm_qemu() -> Option<PathBuf> {
    let on_path = Path::new(SYSTEM_QEMU);
    if qemu_build::igvm_capable(on_path) {
        return Some(on_path.to_path_buf());
    }
    qemu_build::find_cached()
}

/// Resolves `--loader` and `--qemu`: IGVM whenever an IGVM-capable QEMU is at hand, unless asked for the
/// ROM; asking for IGVM without such a QEMU is an error that says how to get one.
pub fn choose(loader: Option<Loader>, qemu: Option<&Path>) -> crate::Result<Choice> {
    let igvm_qemu = match qemu {
        Some(qemu) => qemu_build::igvm_capable(qemu).then(|| qemu.to_path_buf()),
        None if loader == Some(Loader::Rom) => None,
        None => find_igvm_qemu(),
    };
    match (loader, igvm_qemu) {
        (Some(Loader::Igvm) | None, Some(qemu)) => Ok(Choice { loader: Loader::Igvm, qemu }),
        (Some(Loader::Igvm), None) => Err(match qemu {
            Some(qemu) => format!("{} has no IGVM loader (`-object help` lists no igvm-cfg)", qemu.display()),
            None => "no IGVM-capable QEMU on PATH or in the cache: build one with `cargo xtask qemu`, \
                     pass one with --qemu PATH, or boot the ROM with --loader rom"
                .to_string(),
        }
        .into()),
        (Some(Loader::Rom) | None, _) => Ok(Choice {
            loader: Loader::Rom,
            qemu: qemu.map_or_else(|| PathBuf::from(SYSTEM_QEMU), Path::to_path_buf),
        }),
    }
}

/// Refuses guest RAM that does not cover Warden's region. The firmware sizes guest RAM from the E820 map
/// (`firmware/kernel/src/native.rs`), and with less RAM than Warden's region QEMU's IGVM loader places
/// the region's pages in memory it adds outside the E820 map, while the ROM's stub would copy them to
/// memory that does not exist: neither is a machine Warden is meant to run on.
pub fn check_memory(memory_mib: u64) -> crate::Result {
    let needed = WARDEN_END.div_ceil(1 << 20);
    if memory_mib < needed {
        return Err(format!(
            "--memory {memory_mib} is too small: Warden's region ends at {needed} MiB, so the guest needs at \
             least {needed} MiB of RAM (QEMU would put Warden outside the E820 map)"
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Loader, check_memory, choose};

    #[test]
    fn memory_below_wardens_region_is_refused() {
        let error = check_memory(64).unwrap_err().to_string();
        assert!(error.contains("144 MiB"), "{error}");
        assert!(check_memory(143).is_err());
        assert!(check_memory(144).is_ok());
    }

    #[test]
    fn the_rom_loader_needs_no_igvm_qemu() {
        let choice = choose(Some(Loader::Rom), None).unwrap();
        assert_eq!(choice.loader, Loader::Rom);
        assert_eq!(choice.qemu, std::path::Path::new("qemu-system-x86_64"));
    }

    #[test]
    fn igvm_with_a_qemu_that_lacks_the_loader_is_refused() {
        // `true` runs and prints nothing: no igvm-cfg.
        let error = choose(Some(Loader::Igvm), Some(std::path::Path::new("true"))).unwrap_err();
        assert!(error.to_string().contains("no IGVM loader"), "{error}");
    }
}
