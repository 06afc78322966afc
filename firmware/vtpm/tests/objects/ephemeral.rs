//! TPM2_EC_Ephemeral (Part 3 §19.3): a point on the asked curve and a counter that counts up from 0
//! (the commit counter TPM2_Commit shares, as ms-tpm-20-ref's `gr.commitCounter`), starting again at a
//! TPM Reset.

use crate::common::{R, rc_p, run, started};
use warden_vtpm::{CommandCode, ResponseCode, Tpm};

/// (x, y, counter) of EC_Ephemeral on `curve`, or the rc.
fn ephemeral(t: &mut Tpm, curve: u16) -> Result<(Vec<u8>, Vec<u8>, u16), u32> {
    let r = run(t, CommandCode::EC_EPHEMERAL, &[], None, &curve.to_be_bytes());
    if r.rc != 0 {
        return Err(r.rc);
    }
    let mut rd = r.reader();
    let mut q = R(rd.tpm2b());
    let (x, y) = (q.tpm2b().to_vec(), q.tpm2b().to_vec());
    q.done();
    let counter = rd.u16();
    rd.done();
    Ok((x, y, counter))
}

fn on_p256(x: &[u8], y: &[u8]) -> bool {
    p256::PublicKey::from_sec1_bytes(&[&[4u8][..], x, y].concat()).is_ok()
}

#[test]
fn points_are_on_the_curve_and_the_counter_counts() {
    let mut t = started();
    let (x1, y1, c1) = ephemeral(&mut t, 0x0003).unwrap();
    let (x2, y2, c2) = ephemeral(&mut t, 0x0003).unwrap();
    assert!(on_p256(&x1, &y1) && on_p256(&x2, &y2));
    assert_eq!((c1, c2), (0, 1));
    assert_ne!(x1, x2);
    let (x, y, c) = ephemeral(&mut t, 0x0004).unwrap();
    assert_eq!((x.len(), y.len(), c), (48, 48, 2));
    assert!(p384::PublicKey::from_sec1_bytes(&[&[4u8][..], &x, &y].concat()).is_ok());
    // NIST P-192 is not implemented.
    assert_eq!(ephemeral(&mut t, 0x0001), Err(rc_p(ResponseCode::CURVE, 1)));

    // A TPM Reset (Startup(CLEAR) without Shutdown(STATE)) starts the counter again.
    t.power_on();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    let (x, _, c) = ephemeral(&mut t, 0x0003).unwrap();
    assert_eq!(c, 0);
    assert_ne!(x, x1);
}
