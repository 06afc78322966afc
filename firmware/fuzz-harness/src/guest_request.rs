//! Fuzz body for the SNP guest-request driver's response handling (threat model T6 and T1): the
//! hypervisor hands the PSP's response page and the certificate buffer back through shared pages and
//! may change any byte of them. The input's first byte chooses a plain or an extended request; the
//! rest is XORed onto the response page the simulated PSP (`warden-sim`, INSECURE test keys) really
//! sent, then onto its certificate buffer, so an all-zero input is the honest exchange and every
//! mutation is a hypervisor's change to it.
//!
//! Properties: the driver never panics; a report it accepts is the one the PSP sent; any refusal
//! leaves the driver disabled and VMPCK0 wiped from the host's copy.
use std::vec::Vec;

use warden_defs::snp_guest_msg::VMPCK_SIZE;
use warden_sim::psp::{SimPsp, SimPspError};
use warden_svsm::guest_request::{
    ChannelError, ChannelReply, GuestRequestChannel, GuestRequestDriver, GuestRequestError, MessagePage,
};
use zeroize::Zeroizing;

/// The simulated PSP behind a hypervisor that XORs `mask` onto what comes back.
struct Hypervisor {
    psp: SimPsp,
    mask: Vec<u8>,
    /// The host's copy of VMPCK0 (Warden's secrets page on SNP).
    vmpck0: [u8; VMPCK_SIZE],
}

impl GuestRequestChannel for Hypervisor {
    fn exchange(
        &mut self,
        request: &MessagePage,
        pages: Option<usize>,
    ) -> Result<ChannelReply, ChannelError> {
        let (mut response, mut certificates) =
            self.psp.guest_request(request, pages).map_err(|e| match e {
                SimPspError::InvalidLength(pages) => ChannelError::InvalidLength { pages },
                SimPspError::Firmware(code) => ChannelError::Firmware(code),
            })?;
        let mut mask = self.mask.iter();
        for (byte, m) in response.iter_mut().zip(&mut mask) {
            *byte ^= m;
        }
        if let Some(certificates) = certificates.as_mut() {
            for (byte, m) in certificates.iter_mut().zip(&mut mask) {
                *byte ^= m;
            }
        }
        Ok(ChannelReply { response, certificates })
    }

    fn wipe_vmpck0(&mut self) {
        self.vmpck0 = [0; VMPCK_SIZE];
    }
}

/// The report an honest exchange with a fresh simulated PSP returns (the simulated PSP is
/// deterministic: its keys and measurement come from labelled seeds).
fn honest_report(with_certificates: bool) -> Vec<u8> {
    let mut driver = driver(Vec::new());
    driver.report(&[0x5A; 64], with_certificates).expect("the honest exchange succeeds").0
}

fn driver(mask: Vec<u8>) -> GuestRequestDriver<Hypervisor> {
    let psp = SimPsp::insecure_test();
    let vmpck0 = psp.vmpck(0);
    let key = Zeroizing::new(vmpck0);
    GuestRequestDriver::new(Hypervisor { psp, mask, vmpck0 }, key)
}

/// Threat model T6.
pub fn guest_request_response(data: &[u8]) {
    let Some((&choice, mask)) = data.split_first() else { return };
    let with_certificates = choice & 1 == 1;
    let mut driver = driver(mask.to_vec());
    match driver.report(&[0x5A; 64], with_certificates) {
        Ok((report, _)) => {
            assert_eq!(report, honest_report(with_certificates), "only the PSP's report is accepted")
        }
        Err(GuestRequestError::Psp(_)) => {}
        Err(_) => {
            assert!(driver.is_disabled(), "a refused response disables the driver");
            assert_eq!(driver.channel().vmpck0, [0; VMPCK_SIZE], "and wipes VMPCK0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome of one exchange whose response page is XORed with `flips` (plain request).
    fn outcome(flips: &[usize]) -> Result<Vec<u8>, GuestRequestError> {
        let mut mask = vec![0u8; 4096];
        for &at in flips {
            mask[at] ^= 1;
        }
        driver(mask).report(&[0x5A; 64], false).map(|(report, _)| report)
    }

    #[test]
    fn the_seeds_reach_acceptance_and_each_refusal() {
        assert!(outcome(&[]).is_ok(), "the honest exchange is accepted");
        assert!(outcome(&[4000]).is_ok(), "a byte past the message is not part of it");
        assert!(matches!(outcome(&[0x20]), Err(GuestRequestError::Header(_))), "sequence number");
        assert!(matches!(outcome(&[0x70]), Err(GuestRequestError::Tag)), "payload");
        for seed in
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/guest_request_response"))
                .expect("the seed corpus")
        {
            guest_request_response(&std::fs::read(seed.unwrap().path()).unwrap());
        }
    }
}
