//! The IGVM file parsed back with the `igvm` crate and checked directive by directive against the
//! input image and the layout.
use igvm::{IgvmDirectiveHeader, IgvmFile, IgvmInitializationHeader, IgvmPlatformHeader, IsolationType};
use igvm_defs::{IgvmPageDataType, IgvmPlatformType};
use warden_defs::layout::{self, PAGE_SIZE};

use super::test_support::{ENTRY32, page, synthetic_image};
use super::{ALL_MASK, NATIVE_MASK, SNP_MASK, SNP_POLICY, TDX_MASK, write_igvm};
use crate::image::PageKind;

fn parse(bytes: &[u8], filter: Option<IsolationType>) -> IgvmFile {
    IgvmFile::new_from_binary(bytes, filter).expect("the file parses back")
}

#[test]
fn policy_is_smt_and_must_be_one_without_debug() {
    assert_eq!(SNP_POLICY, 0x3_0000);
    assert_eq!(SNP_POLICY & (1 << 19), 0, "DEBUG must stay off");
}

#[test]
fn headers_declare_three_platforms_v2_and_the_snp_policy() {
    let bytes = write_igvm(&synthetic_image(), SNP_POLICY).unwrap();
    assert_eq!(&bytes[0..4], b"IGVM");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 2, "format version 2");
    let file = parse(&bytes, None);
    let platforms: Vec<_> = file
        .platforms()
        .iter()
        .map(|IgvmPlatformHeader::SupportedPlatform(p)| (p.compatibility_mask, p.platform_type))
        .collect();
    assert_eq!(
        platforms,
        [
            (SNP_MASK, IgvmPlatformType::SEV_SNP),
            (NATIVE_MASK, IgvmPlatformType::NATIVE),
            (TDX_MASK, IgvmPlatformType::TDX)
        ]
    );
    assert!(matches!(
        file.initializations(),
        [IgvmInitializationHeader::GuestPolicy { policy: SNP_POLICY, compatibility_mask: SNP_MASK }]
    ));
}

#[test]
fn every_directive_matches_the_image_and_the_layout() {
    let image = synthetic_image();
    let file = parse(&write_igvm(&image, SNP_POLICY).unwrap(), None);
    let mut d = file.directives().iter();
    use IgvmDirectiveHeader as H;
    match d.next() {
        Some(H::RequiredMemory { gpa, compatibility_mask, number_of_bytes, vtl2_protectable }) => {
            assert_eq!((*gpa, *compatibility_mask), (layout::WARDEN_BASE, ALL_MASK));
            assert_eq!((u64::from(*number_of_bytes), *vtl2_protectable), (layout::WARDEN_SIZE, false));
        }
        other => panic!("expected REQUIRED_MEMORY, got {other:?}"),
    }
    for index in [0, 1] {
        match d.next() {
            Some(H::ParameterArea { number_of_bytes, parameter_area_index, initial_data }) => {
                assert_eq!((*number_of_bytes, *parameter_area_index), (PAGE_SIZE, index));
                assert!(initial_data.is_empty());
            }
            other => panic!("expected a parameter area, got {other:?}"),
        }
    }
    assert!(matches!(d.next(), Some(H::VpCount(p)) if p.parameter_area_index == 0 && p.byte_offset == 0));
    assert!(matches!(d.next(), Some(H::MemoryMap(p)) if p.parameter_area_index == 1 && p.byte_offset == 0));
    for (gpa, index) in [(layout::PARAMS_PAGE, 0), (layout::MEMORY_MAP_PAGE, 1)] {
        match d.next() {
            Some(H::ParameterInsert(i)) => {
                assert_eq!((i.gpa, i.compatibility_mask, i.parameter_area_index), (gpa, ALL_MASK, index));
            }
            other => panic!("expected an insert, got {other:?}"),
        }
    }
    match d.next() {
        Some(H::X64NativeVpContext { compatibility_mask, vp_index, context }) => {
            assert_eq!((*compatibility_mask, *vp_index), (NATIVE_MASK, 0));
            let e = &image.entry;
            assert_eq!((context.rip, context.rsp, context.rsi, context.rdi), (e.rip, e.rsp, e.rsi, 0));
            assert_eq!((context.cr0, context.cr3, context.cr4, context.efer), (e.cr0, e.cr3, e.cr4, e.efer));
        }
        other => panic!("expected the native VP context, got {other:?}"),
    }
    let data_pages = image.pages.iter().filter(|p| matches!(p.kind, PageKind::Normal | PageKind::Zero));
    for expected in data_pages {
        match d.next() {
            Some(H::PageData { gpa, compatibility_mask, flags, data_type, data }) => {
                assert_eq!((*gpa, *compatibility_mask), (expected.gpa, ALL_MASK));
                assert_eq!((flags.into_bits(), *data_type), (0, IgvmPageDataType::NORMAL));
                assert_eq!(data.as_slice(), expected.data.as_slice(), "page {gpa:#x}, zeros explicit");
            }
            other => panic!("expected page {:#x}, got {other:?}", expected.gpa),
        }
    }
    for (gpa, snp_type) in [
        (layout::SNP_SECRETS_PAGE, IgvmPageDataType::SECRETS),
        (layout::SNP_CPUID_PAGE, IgvmPageDataType::CPUID_DATA),
    ] {
        match (d.next(), d.next()) {
            (
                Some(H::PageData { gpa: g1, compatibility_mask: SNP_MASK, data_type: t1, data: d1, .. }),
                Some(H::PageData { gpa: g2, compatibility_mask: m2, data_type: t2, data: d2, .. }),
            ) => {
                assert_eq!((*g1, *t1, d1.len()), (gpa, snp_type, 0));
                assert_eq!((*g2, *m2, *t2), (gpa, TDX_MASK | NATIVE_MASK, IgvmPageDataType::NORMAL));
                assert_eq!(d2.as_slice(), [0; PAGE_SIZE as usize].as_slice());
            }
            other => panic!("expected the SNP page and its zero twin at {gpa:#x}, got {other:?}"),
        }
    }
    match d.next() {
        Some(H::SnpVpContext { gpa, compatibility_mask, vp_index, vmsa }) => {
            assert_eq!((*gpa, *compatibility_mask, *vp_index), (layout::SNP_VMSA_GPA, SNP_MASK, 0));
            assert_eq!((vmsa.rip, vmsa.cr0, vmsa.rdi), (ENTRY32, 0x31, 1));
            assert_eq!(vmsa.efer & 0x1000, 0x1000, "EFER.SVME");
            assert_eq!((vmsa.cs.selector, vmsa.cs.attrib, vmsa.cs.limit), (8, 0xC9B, 0xFFFF_FFFF));
            assert!(vmsa.sev_features.snp());
        }
        other => panic!("expected the VMSA last, got {other:?}"),
    }
    assert!(d.next().is_none(), "the VMSA is the last directive");
}

#[test]
fn each_platform_sees_its_own_directives() {
    let bytes = write_igvm(&synthetic_image(), SNP_POLICY).unwrap();
    let tdx = parse(&bytes, Some(IsolationType::Tdx));
    let vp_contexts = |f: &IgvmFile| {
        f.directives()
            .iter()
            .filter(|h| {
                matches!(
                    h,
                    IgvmDirectiveHeader::SnpVpContext { .. } | IgvmDirectiveHeader::X64NativeVpContext { .. }
                )
            })
            .count()
    };
    assert_eq!(vp_contexts(&tdx), 0, "TDX starts at the architectural reset vector");
    let reset_page = tdx.directives().iter().find_map(|h| match h {
        IgvmDirectiveHeader::PageData { gpa, data, .. } if *gpa == layout::BOOT_STUB_PAGE => Some(data),
        _ => None,
    });
    assert_eq!(reset_page.map(Vec::as_slice), Some(synthetic_image().stub.page.as_slice()));
    let secret_types = |f: &IgvmFile| {
        f.directives()
            .iter()
            .filter(|h| {
                matches!(h, IgvmDirectiveHeader::PageData { data_type: IgvmPageDataType::SECRETS, .. })
            })
            .count()
    };
    assert_eq!(secret_types(&tdx), 0);
    let snp = parse(&bytes, Some(IsolationType::Snp));
    assert_eq!((vp_contexts(&snp), secret_types(&snp)), (1, 1));
    assert_eq!(vp_contexts(&parse(&bytes, Some(IsolationType::NotIsolated))), 1);
}

#[test]
fn the_same_image_serializes_to_the_same_bytes() {
    let image = synthetic_image();
    let first = write_igvm(&image, SNP_POLICY).unwrap();
    assert_eq!(first, write_igvm(&image.clone(), SNP_POLICY).unwrap());
    let mut changed = image.clone();
    changed.pages[0].data[7] ^= 1;
    assert_ne!(first, write_igvm(&changed, SNP_POLICY).unwrap());
}

#[test]
fn images_that_break_the_layout_are_refused() {
    let mut unsorted = synthetic_image();
    unsorted.pages.swap(0, 1);
    assert!(write_igvm(&unsorted, SNP_POLICY).is_err());

    let mut no_secrets = synthetic_image();
    no_secrets.pages.retain(|p| p.kind != PageKind::SnpSecrets);
    assert!(write_igvm(&no_secrets, SNP_POLICY).is_err());

    let mut moved_cpuid = synthetic_image();
    for p in moved_cpuid.pages.iter_mut().filter(|p| p.kind == PageKind::SnpCpuid) {
        p.kind = PageKind::Normal;
    }
    let last_table = layout::PAGE_TABLES_BASE + 2 * PAGE_SIZE;
    moved_cpuid.pages.insert(2, page(last_table, PageKind::SnpCpuid, |_| 0));
    assert!(write_igvm(&moved_cpuid, SNP_POLICY).is_err());

    let mut dirty_zero = synthetic_image();
    for p in dirty_zero.pages.iter_mut().filter(|p| p.kind == PageKind::Zero) {
        p.data[0] = 1;
    }
    assert!(write_igvm(&dirty_zero, SNP_POLICY).is_err());
}
