//! The release firmware ELF (`target/warden/warden.elf`), read back: it carries no test hook (threat
//! model T8), and its heap step calls the acceptance engine on SEV-SNP and TDX (architecture, boot
//! step 6). The hook check is first shown to fire on the test and bench ELFs, which have hooks.
//!
//! The firmware is built with v0 symbol mangling (`.cargo/config.toml`), in which a generic function's
//! instance spells its type arguments as `<length><identifier>` runs: `validate_snp::<SnpPlatform>` of
//! the kernel crate (`warden`) contains `13warden_accept5early12validate_snp` and `3snp11SnpPlatform`.
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind};

/// A function symbol: name, address, size.
struct Function {
    name: String,
    address: u64,
    size: u64,
}

struct Elf {
    functions: Vec<Function>,
    /// The bytes of every allocated (loaded) section, with their addresses: what the image carries.
    loaded: Vec<(u64, Vec<u8>)>,
}

fn read_elf(name: &str) -> Elf {
    let path = warden_tests::out_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = object::File::parse(&*bytes).expect("an ELF file");
    let functions = file
        .symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Text)
        .filter_map(|symbol| {
            let name = symbol.name().ok()?.to_owned();
            Some(Function { name, address: symbol.address(), size: symbol.size() })
        })
        .collect();
    let loaded = file
        .sections()
        .filter(|section| matches!(section.flags(), SectionFlags::Elf { sh_flags } if sh_flags & 2 != 0))
        .filter_map(|section| Some((section.address(), section.data().ok()?.to_vec())))
        .collect();
    Elf { functions, loaded }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// What a test hook looks like in an ELF: a function of the in-firmware suite (`ktest`) or of a
/// benchmark run, or a banner of an insecure flavour in the loaded bytes.
fn test_hooks(elf: &Elf) -> Vec<String> {
    let mut found: Vec<String> = elf
        .functions
        .iter()
        .filter(|f| f.name.contains("5ktest") || f.name.contains("5bench3run"))
        .map(|f| f.name.clone())
        .collect();
    for banner in ["INSECURE TEST IMAGE", "INSECURE BENCH IMAGE"] {
        if elf.loaded.iter().any(|(_, data)| contains(data, banner.as_bytes())) {
            found.push(banner.to_owned());
        }
    }
    found
}

/// Threat model T8: no in-firmware test suite, benchmark or insecure banner in the release ELF.
#[test]
fn the_release_elf_carries_no_test_hook() {
    let test_image = test_hooks(&read_elf("warden-test.elf"));
    assert!(
        test_image.iter().any(|hook| hook.contains("ktest"))
            && test_image.iter().any(|h| h == "INSECURE TEST IMAGE"),
        "the check does not recognise the test image's hooks: {test_image:?}"
    );
    assert!(!test_hooks(&read_elf("warden-bench.elf")).is_empty(), "the check misses the bench image");
    let release = test_hooks(&read_elf("warden.elf"));
    assert!(release.is_empty(), "the release ELF carries test hooks: {release:?}");
}

/// The `call rel32` instructions in `caller`'s bytes that reach `target` (E8 + a 32-bit displacement
/// from the next instruction). A stray E8 byte would have to encode `target`'s exact address.
fn calls(elf: &Elf, caller: &Function, target: u64) -> usize {
    let Some((base, data)) =
        elf.loaded.iter().find(|(base, data)| (*base..*base + data.len() as u64).contains(&caller.address))
    else {
        return 0;
    };
    let start = (caller.address - base) as usize;
    let code = &data[start..(start + caller.size as usize).min(data.len())];
    (0..code.len().saturating_sub(4))
        .filter(|&i| code[i] == 0xE8)
        .filter(|&i| {
            let displacement = i32::from_le_bytes(code[i + 1..i + 5].try_into().unwrap());
            let next = caller.address + i as u64 + 5;
            next.wrapping_add_signed(i64::from(displacement)) == target
        })
        .count()
}

/// Boot step 6: on SEV-SNP and TDX the heap comes up only through the acceptance engine. The engine's
/// entry points are never inlined, so each must exist as an instance for the kernel's platform type,
/// and only a function of that platform's boot (its `accept_heap`, or the generic boot inlining it)
/// may call it. Deleting the call, or instantiating the engine for another type, fails this.
/// Threat model T2.
#[test]
fn the_heap_step_calls_the_acceptance_engine() {
    let elf = read_elf("warden.elf");
    let cases = [
        ("5early12validate_snp", "3snp11SnpPlatform", "11SnpPlatform"),
        ("5early10accept_tdx", "3tdx11TdxPlatform", "11TdxPlatform"),
    ];
    for (engine, platform, platform_type) in cases {
        let instances: Vec<&Function> =
            elf.functions.iter().filter(|f| f.name.contains(&format!("13warden_accept{engine}"))).collect();
        assert_eq!(instances.len(), 1, "{engine}: expected one instance, found {:?}", names(&instances));
        let instance = instances[0];
        assert!(
            instance.name.contains(&format!("6warden{platform}")) && instance.size > 0,
            "{engine} is not instantiated for the kernel's {platform}: {}",
            instance.name
        );
        let callers: Vec<&Function> =
            elf.functions.iter().filter(|f| calls(&elf, f, instance.address) > 0).collect();
        assert!(!callers.is_empty(), "nothing calls {}", instance.name);
        for caller in &callers {
            assert!(
                caller.name.contains(platform_type),
                "{} is called from {}, not from the platform's boot",
                instance.name,
                caller.name
            );
        }
    }
}

fn names(functions: &[&Function]) -> Vec<String> {
    functions.iter().map(|f| f.name.clone()).collect()
}
