//! An evidence directory, as `attest` writes it and `verify --evidence` reads it: the report, the
//! services manifest, the nonce, the host's certificate table and the chain as PEM files.
//!
//! The evidence leaves the emulated machine on the test guest's console, one hex line per item
//! (`guest: evidence <name> <hex>`): the console is the only channel out of the guest, and a relying
//! party reads evidence from an untrusted transport anyway.
use std::path::Path;

use warden_evidence::{Evidence, cert_table};

/// The prefix of the guest's evidence lines.
pub const LINE_PREFIX: &str = "guest: evidence ";
/// The items, their file names, and whether the guest must print them.
pub const ITEMS: [(&str, &str); 4] =
    [("report", "report.bin"), ("manifest", "manifest.bin"), ("nonce", "nonce.bin"), ("certs", "certs.bin")];
/// The chain, one PEM file per certificate.
pub const PEMS: [(&str, [u8; 16]); 3] = [
    ("ark.pem", cert_table::ARK_GUID),
    ("ask.pem", cert_table::ASK_GUID),
    ("vcek.pem", cert_table::VCEK_GUID),
];

/// The evidence items found on a console, by name (the last line of each name wins).
pub fn parse_console(console: &str) -> crate::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut found = Vec::new();
    for (name, _) in ITEMS {
        let line = console
            .lines()
            .filter_map(|line| line.split_once(LINE_PREFIX).map(|(_, rest)| rest))
            .map(|rest| rest.split_once(' ').unwrap_or((rest, "")))
            .rfind(|(item, _)| *item == name);
        let Some((_, hex)) = line else {
            return Err(format!("attest: the guest printed no `{LINE_PREFIX}{name} <hex>` line").into());
        };
        found.push((name, unhex(hex.trim()).map_err(|e| format!("attest: evidence {name}: {e}"))?));
    }
    Ok(found)
}

/// Writes the items and, from the certificate table, any PEM the machine did not export itself.
pub fn write_dir(dir: &Path, items: &[(&'static str, Vec<u8>)]) -> crate::Result {
    std::fs::create_dir_all(dir)?;
    let mut table = &[][..];
    for (name, bytes) in items {
        let file = ITEMS.iter().find(|(n, _)| n == name).map(|(_, f)| *f).ok_or("attest: unknown item")?;
        std::fs::write(dir.join(file), bytes)?;
        if *name == "certs" {
            table = bytes;
        }
    }
    for (file, guid) in PEMS {
        let path = dir.join(file);
        if path.exists() {
            continue;
        }
        let der = cert_table::find(table, &guid)
            .map_err(|e| format!("attest: certs.bin: {e}"))?
            .ok_or_else(|| format!("attest: the certificate table has no certificate for {file}"))?;
        std::fs::write(&path, pem("CERTIFICATE", der))?;
    }
    Ok(())
}

/// Reads an evidence directory. The ASK and VCEK come from the certificate table when it has them (what
/// the host handed the guest), else from `ask.pem` / `vcek.pem`.
pub fn read_dir(dir: &Path) -> crate::Result<Evidence> {
    let read = |file: &str| -> crate::Result<Vec<u8>> {
        std::fs::read(dir.join(file))
            .map_err(|e| format!("verify: cannot read {}: {e}", dir.join(file).display()).into())
    };
    let cert_table = if dir.join("certs.bin").exists() { read("certs.bin")? } else { Vec::new() };
    let from_pem_unless_in_table = |file: &str, guid: &[u8; 16]| -> crate::Result<Option<Vec<u8>>> {
        match cert_table::find(&cert_table, guid) {
            Ok(Some(_)) => Ok(None),
            _ => read(file).map(Some),
        }
    };
    Ok(Evidence {
        report: read("report.bin")?,
        manifest: read("manifest.bin")?,
        nonce: read("nonce.bin")?,
        ask: from_pem_unless_in_table("ask.pem", &cert_table::ASK_GUID)?,
        vcek: from_pem_unless_in_table("vcek.pem", &cert_table::VCEK_GUID)?,
        cert_table,
    })
}

/// Bytes from hex text.
pub fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err("odd length or not ASCII hex".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| format!("not hex at {i}")))
        .collect()
}

/// PEM text (RFC 7468): base64 lines of 64 characters.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::{parse_console, unhex};

    #[test]
    fn evidence_lines_are_found_among_the_console() {
        let console = "warden: ready\n[guest] guest: evidence report 0a0b\nguest: evidence manifest ff\n\
                       guest: evidence nonce 00\nguest: evidence certs \nguest: verdict: PASS\n";
        let items = parse_console(console).unwrap();
        assert_eq!(items[0], ("report", vec![0x0a, 0x0b]));
        assert_eq!(items[3], ("certs", vec![]));
        assert!(parse_console("guest: evidence report 0a\n").is_err(), "a missing item is an error");
        assert!(unhex("0g").is_err() && unhex("abc").is_err());
    }
}
