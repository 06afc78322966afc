//! `measure` held against the independent measurers: the from-the-spec oracle and PyPI
//! `sev-snp-measure`'s `GCTX`, driven page by page from the parsed file.
use std::io::Write;
use std::process::{Command, Stdio};

use igvm::{IgvmDirectiveHeader, IgvmFile};
use igvm_defs::IgvmPageDataType;
use zerocopy::IntoBytes;

use super::oracle;
use super::test_support::synthetic_image;
use super::{SNP_MASK, SNP_POLICY, write_igvm};
use crate::image::GuestPlatform;
use crate::measure::{GuestImages, hex, json_line, measure};

/// The pip command that installs the second oracle.
pub const PIP_INSTALL: &str = "python3 -m pip install sev-snp-measure==0.0.13";

#[test]
fn snp_digest_matches_the_spec_chain_for_one_and_several_vcpus() {
    let image = synthetic_image();
    let bytes = write_igvm(&image, SNP_POLICY).unwrap();
    for vcpus in [1, 3] {
        let m = measure(&bytes, vcpus).unwrap();
        assert_eq!(hex(&m.snp_launch_digest), hex(&oracle::snp_launch_digest(&image, vcpus)), "{vcpus}");
    }
}

#[test]
fn tdx_mrtd_matches_the_spec_sequence_and_ignores_vcpus() {
    let image = synthetic_image();
    let bytes = write_igvm(&image, SNP_POLICY).unwrap();
    let m = measure(&bytes, 1).unwrap();
    assert_eq!(hex(&m.tdx_mrtd), hex(&oracle::tdx_mrtd(&image)));
    assert_eq!(measure(&bytes, 4).unwrap().tdx_mrtd, m.tdx_mrtd);
    assert_ne!(m.tdx_mrtd, m.snp_launch_digest);
}

#[test]
fn the_vmsa_is_laid_out_as_the_offset_table_says() {
    let image = synthetic_image();
    let vmsa = super::snp_vmsa(&image.entry, image.stub.entry32);
    assert_eq!(vmsa.as_bytes(), oracle::vmsa_page(&image).as_slice());
}

#[test]
fn one_changed_byte_changes_every_measurement() {
    let image = synthetic_image();
    let bytes = write_igvm(&image, SNP_POLICY).unwrap();
    // A byte of the first code page, found in the file data (the checksum does not cover it).
    let code = image.pages.iter().find(|p| p.gpa == warden_defs::layout::IMAGE_BASE).unwrap();
    let at = bytes.windows(4096).position(|w| w == code.data.as_slice()).expect("page in file data");
    let mut tampered = bytes.clone();
    tampered[at + 100] ^= 0x01;
    let (good, bad) = (measure(&bytes, 1).unwrap(), measure(&tampered, 1).unwrap());
    assert_ne!(good.snp_launch_digest, bad.snp_launch_digest);
    assert_ne!(good.tdx_mrtd, bad.tdx_mrtd);
    assert_ne!(good.image_sha256, bad.image_sha256);
    // A header byte breaks the checksum: no measurement at all rather than a wrong one.
    let mut header = bytes.clone();
    header[40] ^= 0x01;
    assert!(measure(&header, 1).is_err());
    assert!(measure(&bytes, 0).is_err(), "zero vCPUs");
}

#[test]
fn json_line_has_the_documented_fields_in_order() {
    let bytes = write_igvm(&synthetic_image(), SNP_POLICY).unwrap();
    let m = measure(&bytes, 2).unwrap();
    let line = json_line(&m, std::path::Path::new("target/warden/warden.igvm"), GuestImages::default());
    let at = |key: &str| line.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("no {key}"));
    let keys = ["image", "vcpus", "snp_launch_digest", "tdx_mrtd", "image_sha256"];
    assert!(keys.windows(2).all(|pair| at(pair[0]) < at(pair[1])), "{line}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["vcpus"], 2);
    assert_eq!(v["snp_launch_digest"].as_str().unwrap().len(), 96);
    assert_eq!(v["tdx_mrtd"].as_str().unwrap().len(), 96);
    assert_eq!(v["image_sha256"].as_str().unwrap(), hex(&m.image_sha256));
    assert!(v.get("snp_guest_launch_digest").is_none(), "{line}");
    assert!(v.get("tdx_guest_mrtd").is_none(), "{line}");
}

#[test]
fn json_line_adds_the_guest_images_after_the_documented_fields() {
    let plain = synthetic_image();
    let guest_elf = crate::image::guest::tests::small_guest();
    let snp = crate::image::guest::add(&plain, &guest_elf, GuestPlatform::Snp).unwrap();
    let tdx = crate::image::guest::add(&plain, &guest_elf, GuestPlatform::Tdx).unwrap();
    let m = measure(&write_igvm(&plain, SNP_POLICY).unwrap(), 1).unwrap();
    let g = measure(&write_igvm(&snp, SNP_POLICY).unwrap(), 1).unwrap();
    let t = measure(&write_igvm(&tdx, SNP_POLICY).unwrap(), 1).unwrap();
    let snp_path = std::path::Path::new("target/warden/warden-snp-guest.igvm");
    let tdx_path = std::path::Path::new("target/warden/warden-tdx-guest.igvm");
    let guests = GuestImages { snp: Some((snp_path, &g)), tdx: Some((tdx_path, &t)) };
    let line = json_line(&m, std::path::Path::new("target/warden/warden.igvm"), guests);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["snp_launch_digest"].as_str().unwrap(), hex(&m.snp_launch_digest));
    assert_eq!(v["snp_guest_launch_digest"].as_str().unwrap(), hex(&g.snp_launch_digest));
    assert_eq!(v["snp_guest_image"].as_str().unwrap(), "target/warden/warden-snp-guest.igvm");
    assert_eq!(v["tdx_mrtd"].as_str().unwrap(), hex(&m.tdx_mrtd));
    assert_eq!(v["tdx_guest_mrtd"].as_str().unwrap(), hex(&t.tdx_mrtd));
    assert_eq!(v["tdx_guest_image"].as_str().unwrap(), "target/warden/warden-tdx-guest.igvm");
    assert_ne!(m.snp_launch_digest, g.snp_launch_digest);
    assert_ne!(m.tdx_mrtd, t.tdx_mrtd);
    let at = |key: &str| line.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("no {key}"));
    assert!(
        at("image_sha256") < at("snp_guest_image") && at("snp_guest_launch_digest") < at("tdx_guest_image")
    );
}

/// Drives `sevsnpmeasure.gctx.GCTX` with the file's SNP directives and checks that the file's VMSA is
/// the `snp:svsm` VMSA of `sevsnpmeasure.vmsa` with CR0 0x31, RDI 1 and the x87 FCW it forgets.
const GCTX_DRIVER: &str = r#"
import json, sys
from sevsnpmeasure.gctx import GCTX
from sevsnpmeasure.vmsa import VMSA_SVSM
from sevsnpmeasure.vmm_types import VMMType
req = json.load(sys.stdin)
g = GCTX()
vmsa = None
for op in req["ops"]:
    kind, gpa = op[0], op[1]
    if kind == "normal": g.update_normal_pages(gpa, bytes.fromhex(op[2]))
    elif kind == "unmeasured": g.update_unmeasured_pages(gpa, 4096)
    elif kind == "secrets": g.update_secrets_page(gpa)
    elif kind == "cpuid": g.update_cpuid_page(gpa)
    elif kind == "vmsa": vmsa = bytes.fromhex(op[2])
    else: sys.exit("unknown op " + kind)
for _ in range(req["vcpus"]): g.update_vmsa_page(vmsa)
sa = VMSA_SVSM.build_save_area(req["entry32"], 1, 0, VMMType.QEMU)
sa.cr0 = 0x31; sa.rdi = 1; sa.rsi = req["rsi"]; sa.x87_fcw = 0x37f
print(json.dumps({"ld": g.hex_ld(), "vmsa_matches": bytes(sa) == vmsa}))
"#;

#[test]
fn snp_digest_matches_sev_snp_measure() {
    let image = synthetic_image();
    let bytes = write_igvm(&image, SNP_POLICY).unwrap();
    let file = IgvmFile::new_from_binary(&bytes, None).unwrap();
    let mut ops = Vec::new();
    for header in file.directives() {
        use IgvmDirectiveHeader as H;
        match header {
            H::PageData { gpa, compatibility_mask, data_type, data, .. }
                if compatibility_mask & SNP_MASK != 0 =>
            {
                ops.push(match *data_type {
                    IgvmPageDataType::SECRETS => serde_json::json!(["secrets", gpa]),
                    IgvmPageDataType::CPUID_DATA => serde_json::json!(["cpuid", gpa]),
                    _ => serde_json::json!(["normal", gpa, hex(data)]),
                });
            }
            H::ParameterInsert(insert) => ops.push(serde_json::json!(["unmeasured", insert.gpa])),
            H::SnpVpContext { vmsa, .. } => ops.push(serde_json::json!(["vmsa", 0, hex(vmsa.as_bytes())])),
            _ => {}
        }
    }
    let vcpus = 2;
    let request = serde_json::json!({
        "ops": ops, "vcpus": vcpus, "entry32": image.stub.entry32, "rsi": image.entry.rsi,
    });
    let mut child = Command::new("python3")
        .args(["-c", GCTX_DRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sev-snp-measure missing? install it with `{PIP_INSTALL}`");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["vmsa_matches"], true, "the VMSA differs from sev-snp-measure's snp:svsm VMSA");
    let m = measure(&bytes, vcpus).unwrap();
    assert_eq!(answer["ld"].as_str().unwrap(), hex(&m.snp_launch_digest));
}
