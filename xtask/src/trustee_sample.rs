//! The reference values as the plain "sample" message that Trustee's reference-value provider service
//! (confidential-containers/trustee, `rvps`) registers: `{"version", "type": "sample", "payload"}` whose
//! payload is base64 of a JSON map from reference-value name to accepted values.
//!
//! The name is the one Trustee's SNP verifier gives the launch measurement, `snp_launch_measurement`,
//! with the value in lower-case hex. The sample format carries no signature (Trustee's sample extractor
//! checks none): whoever registers it must have checked the DSSE or CoRIM signature first.
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::Result;
use crate::measure::{Measurements, hex};

/// The file name under `target/warden/` (for `warden.igvm`).
pub const SAMPLE_FILE: &str = "reference-values.trustee-sample.json";
/// Trustee's name for the SNP launch measurement.
pub const SNP_LAUNCH_MEASUREMENT: &str = "snp_launch_measurement";

/// The message, pretty-printed with a trailing newline.
pub fn sample_message(m: &Measurements) -> Result<Vec<u8>> {
    let provenance = json!({ SNP_LAUNCH_MEASUREMENT: [hex(&m.snp_launch_digest)] });
    let message = json!({
        "version": "0.1.0",
        "type": "sample",
        "payload": BASE64.encode(serde_json::to_vec(&provenance)?),
    });
    let mut bytes = serde_json::to_vec_pretty(&message)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The launch measurements a message accepts (hex).
pub fn measurements_of(message: &[u8]) -> Result<Vec<String>> {
    let message: Value = serde_json::from_slice(message)?;
    if message["type"] != "sample" {
        return Err("trustee sample: not a sample message".into());
    }
    let payload = BASE64.decode(message["payload"].as_str().ok_or("trustee sample: no payload")?)?;
    let provenance: Value = serde_json::from_slice(&payload)?;
    let values =
        provenance[SNP_LAUNCH_MEASUREMENT].as_array().ok_or("trustee sample: no launch measurement")?;
    values.iter().map(|v| Ok(v.as_str().ok_or("trustee sample: a value is not text")?.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::{measurements_of, sample_message};
    use crate::measure::{Measurements, hex};

    #[test]
    fn the_message_carries_the_launch_measurement() {
        let m = Measurements {
            vcpus: 1,
            snp_launch_digest: [0xAB; 48],
            tdx_mrtd: [0; 48],
            image_sha256: [0; 32],
            native_image_digest: None,
        };
        assert_eq!(measurements_of(&sample_message(&m).unwrap()).unwrap(), vec![hex(&[0xAB; 48])]);
    }
}
