//! NV indices through tpm2-tools: ordinary, counter, bit-field and extend indices, write locks,
//! index passwords, and the TPM's own bounds checks driven raw.

use sha2::{Digest, Sha256};

use super::harness::{Server, hex};
use super::started;

fn read_back(server: &Server, index: &str, args: &[&str]) -> Vec<u8> {
    server.ok("tpm2_nvread", &[&[index, "-o", "out.bin"], args].concat());
    std::fs::read(server.path("out.bin")).unwrap()
}

#[test]
fn nv_define_write_read_undefine_with_bounds() {
    let server = started();
    let index = "0x1500016";
    server.ok("tpm2_nvdefine", &[index, "-C", "o", "-s", "32", "-a", "ownerread|ownerwrite"]);
    assert!(server.ok("tpm2_getcap", &["handles-nv-index"]).contains(index));
    let public = server.ok("tpm2_nvreadpublic", &[index]);
    assert!(public.contains("size: 32"), "{public}");

    let data: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
    std::fs::write(server.path("data.bin"), &data).unwrap();
    server.ok("tpm2_nvwrite", &[index, "-C", "o", "-i", "data.bin"]);
    server.ok("tpm2_nvread", &[index, "-C", "o", "-s", "32", "-o", "back.bin"]);
    assert_eq!(std::fs::read(server.path("back.bin")).unwrap(), data);
    // A partial write at an offset changes only those bytes.
    std::fs::write(server.path("patch.bin"), b"ABCD").unwrap();
    server.ok("tpm2_nvwrite", &[index, "-C", "o", "-i", "patch.bin", "--offset=28"]);
    server.ok("tpm2_nvread", &[index, "-C", "o", "-s", "8", "--offset=24", "-o", "tail.bin"]);
    let expected = [&data[24..28], b"ABCD"].concat();
    assert_eq!(std::fs::read(server.path("tail.bin")).unwrap(), expected);

    // The tools check bounds themselves before sending, so the TPM's own check is driven raw:
    // TPM2_NV_Write / NV_Read past the end must get TPM_RC_NV_RANGE (0x146).
    let mut raw = server.raw();
    let (code, _) = raw.call(&nv_write(0x0150_0016, 30, b"12345678"));
    assert_eq!(code, 0x146, "NV_Write past the end: {code:#x}");
    let (code, _) = raw.call(&nv_read(0x0150_0016, 8, 28));
    assert_eq!(code, 0x146, "NV_Read past the end: {code:#x}");
    let (code, _) = raw.call(&nv_read(0x0150_0016, 8, 24));
    assert_eq!(code, 0, "an in-bounds raw read still works");
    server.ok("tpm2_nvread", &[index, "-C", "o", "-s", "32", "-o", "back.bin"]);
    assert_eq!(std::fs::read(server.path("back.bin")).unwrap(), [&data[..28], b"ABCD"].concat());

    server.ok("tpm2_nvundefine", &[index, "-C", "o"]);
    assert!(!server.ok("tpm2_getcap", &["handles-nv-index"]).contains(index));
    server.fails("tpm2_nvread", &[index, "-C", "o", "-s", "8"]);
}

/// A command authorized by the owner with the empty password (`TPM_RS_PW`).
fn owner_command(code: u32, index: u32, parameters: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x4000_0001u32.to_be_bytes()); // TPM_RH_OWNER
    body.extend_from_slice(&index.to_be_bytes());
    body.extend_from_slice(&9u32.to_be_bytes());
    body.extend_from_slice(&0x4000_0009u32.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 0, 0]);
    body.extend_from_slice(parameters);
    let mut command = vec![0x80, 0x02];
    command.extend_from_slice(&(body.len() as u32 + 10).to_be_bytes());
    command.extend_from_slice(&code.to_be_bytes());
    command.extend_from_slice(&body);
    command
}

fn nv_write(index: u32, offset: u16, data: &[u8]) -> Vec<u8> {
    let mut parameters = (data.len() as u16).to_be_bytes().to_vec();
    parameters.extend_from_slice(data);
    parameters.extend_from_slice(&offset.to_be_bytes());
    owner_command(0x137, index, &parameters)
}

fn nv_read(index: u32, size: u16, offset: u16) -> Vec<u8> {
    owner_command(0x14E, index, &[size.to_be_bytes(), offset.to_be_bytes()].concat())
}

#[test]
fn counter_bits_and_extend_indices_follow_their_types() {
    let server = started();
    // A counter counts up by one per increment, whatever value it starts from.
    server.ok("tpm2_nvdefine", &["0x1500020", "-C", "o", "-s", "8", "-a", "nt=counter|ownerread|ownerwrite"]);
    server.ok("tpm2_nvincrement", &["0x1500020", "-C", "o"]);
    let first = u64::from_be_bytes(read_back(&server, "0x1500020", &["-C", "o"]).try_into().unwrap());
    for step in 1..=3 {
        server.ok("tpm2_nvincrement", &["0x1500020", "-C", "o"]);
        let now = u64::from_be_bytes(read_back(&server, "0x1500020", &["-C", "o"]).try_into().unwrap());
        assert_eq!(now, first + step);
    }
    // A bit field ORs what is set into what was.
    server.ok("tpm2_nvdefine", &["0x1500021", "-C", "o", "-s", "8", "-a", "nt=bits|ownerread|ownerwrite"]);
    server.ok("tpm2_nvsetbits", &["0x1500021", "-C", "o", "-i", "0x8000000000000005"]);
    server.ok("tpm2_nvsetbits", &["0x1500021", "-C", "o", "-i", "0x30"]);
    assert_eq!(read_back(&server, "0x1500021", &["-C", "o"]), 0x8000_0000_0000_0035u64.to_be_bytes());
    // An extend index is a PCR of its own: new = H(old || data), starting from zeros.
    server.ok(
        "tpm2_nvdefine",
        &["0x1500022", "-C", "o", "-g", "sha256", "-a", "nt=extend|ownerread|ownerwrite"],
    );
    let mut expected = [0u8; 32].to_vec();
    for data in [&b"first"[..], b"second"] {
        std::fs::write(server.path("data.bin"), data).unwrap();
        server.ok("tpm2_nvextend", &["0x1500022", "-C", "o", "-i", "data.bin"]);
        expected = Sha256::new().chain_update(&expected).chain_update(data).finalize().to_vec();
    }
    assert_eq!(hex(&read_back(&server, "0x1500022", &["-C", "o"])), hex(&expected));
}

#[test]
fn write_lock_and_index_password_are_enforced() {
    let server = started();
    std::fs::write(server.path("data.bin"), b"12345678").unwrap();
    server.ok(
        "tpm2_nvdefine",
        &["0x1500030", "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite|write_stclear"],
    );
    server.ok("tpm2_nvwrite", &["0x1500030", "-C", "o", "-i", "data.bin"]);
    server.ok("tpm2_nvwritelock", &["0x1500030", "-C", "o"]);
    let stderr = server.fails("tpm2_nvwrite", &["0x1500030", "-C", "o", "-i", "data.bin"]);
    assert!(stderr.contains("0x148"), "write after lock must be TPM_RC_NV_LOCKED: {stderr}");
    assert_eq!(read_back(&server, "0x1500030", &["-C", "o"]), b"12345678");

    // An index that authorizes itself with a password (no_da: failures are TPM_RC_BAD_AUTH).
    let attributes = "authread|authwrite|no_da";
    server.ok("tpm2_nvdefine", &["0x1500031", "-C", "o", "-s", "8", "-a", attributes, "-p", "secret"]);
    let stderr = server.fails("tpm2_nvwrite", &["0x1500031", "-P", "wrong", "-i", "data.bin"]);
    assert!(stderr.contains("0x9A2"), "wrong password: {stderr}");
    server.ok("tpm2_nvwrite", &["0x1500031", "-P", "secret", "-i", "data.bin"]);
    let stderr = server.fails("tpm2_nvread", &["0x1500031", "-P", "wrong", "-s", "8"]);
    assert!(stderr.contains("0x9A2"), "wrong password: {stderr}");
    assert_eq!(read_back(&server, "0x1500031", &["-P", "secret", "-s", "8"]), b"12345678");
}
