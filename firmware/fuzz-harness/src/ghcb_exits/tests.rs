//! The `ghcb_fields` body on hand-made hypervisor replies (threat model T1), and its seed corpus.
use std::path::PathBuf;

use warden_accept::{AcceptError, PscResponseError};
use warden_defs::ghcb::EventInjection;
use warden_platform::ghcb_exits::{ExitError, Misbehaviour};

use super::{Outcome, REPLY_LEN, psc_header, run_exit};

/// EVENTINJ: valid, type exception, vector 13 (#GP), error code 0 valid.
const INJECT_GP: u64 = (1 << 31) | (3 << 8) | (1 << 11) | 13;

/// An input: exit kind, parameter, then one reply record per `(valid, words, psc header)`.
fn input(kind: u8, param: u64, replies: &[(u8, [u64; 6], [u8; 8])]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&param.to_le_bytes());
    for (valid, words, header) in replies {
        out.push(*valid);
        words.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
        out.extend_from_slice(header);
    }
    assert_eq!(out.len(), 9 + replies.len() * REPLY_LEN);
    out
}

/// A PSC run over 4 pages (4 entries, end_entry 3) whose one reply carries `header`.
fn psc_with_header(header: [u8; 8]) -> Option<Outcome> {
    run_exit(&input(5, 3, &[(0b11, [0; 6], header)]), false)
}

fn psc_error(outcome: Option<Outcome>) -> Option<AcceptError> {
    match outcome {
        Some(Outcome::Psc(Err(error), _)) => Some(error),
        _ => None,
    }
}

#[test]
fn a_psc_reply_with_a_forged_header_is_refused() {
    // Threat model T1 (and T2): the header in the private copy is checked by warden_accept::psc.
    assert_eq!(psc_with_header(psc_header(4, 3, 0)), Some(Outcome::Psc(Ok(()), None)));
    let refused = |e| Some(AcceptError::PscResponse(e));
    let end_changed = PscResponseError::EndChanged { end_entry: 9 };
    assert_eq!(psc_error(psc_with_header(psc_header(4, 9, 0))), refused(end_changed));
    let beyond = PscResponseError::OutOfBounds { cur_entry: 5 };
    assert_eq!(psc_error(psc_with_header(psc_header(5, 3, 0))), refused(beyond));
    let stalled = PscResponseError::NoProgress { cur_entry: 0 };
    assert_eq!(psc_error(psc_with_header(psc_header(0, 3, 0))), refused(stalled));
    assert_eq!(psc_error(psc_with_header(psc_header(4, 3, 1))), refused(PscResponseError::ReservedSet));
}

#[test]
fn a_psc_resumes_from_a_partial_reply_and_spans_batches() {
    // Two exchanges for one batch: the engine resumes from the checked cur_entry.
    let partial = input(5, 3, &[(0b11, [0; 6], psc_header(2, 3, 0)), (0b11, [0; 6], psc_header(4, 3, 0))]);
    assert_eq!(run_exit(&partial, true), Some(Outcome::Psc(Ok(()), None)));
    // 300 pages of 4 KiB: batches of 253 and 47 entries.
    let two =
        input(5, 299, &[(0b11, [0; 6], psc_header(253, 252, 0)), (0b11, [0; 6], psc_header(47, 46, 0))]);
    assert_eq!(run_exit(&two, true), Some(Outcome::Psc(Ok(()), None)));
}

#[test]
fn a_psc_answered_with_an_exception_is_misbehaviour() {
    let gp = input(5, 3, &[(0b11, [1, INJECT_GP, 0, 0, 0, 0], [0; 8])]);
    let event = EventInjection { vector: 13, error_code: Some(0) };
    match run_exit(&gp, false) {
        Some(Outcome::Psc(Err(_), why)) => assert_eq!(why, Some(Misbehaviour::UnexpectedException(event))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_body_checks_ok_results_against_the_reply() {
    // IN of a byte with high garbage: masked, and the body's own cross-check agrees.
    let in_byte = input(0, 0x3FD, &[(0b101, [0, 0, 0xDEAD_BEEF_0000_0120, 0, 0, 0], [0; 8])]);
    assert_eq!(run_exit(&in_byte, true), Some(Outcome::In(Ok(0x20))));
    // The status without its valid bit.
    let no_status = input(0, 0x3FD, &[(0b100, [0, 0, 0x20, 0, 0, 0], [0; 8])]);
    let missing = ExitError::Misbehaved(Misbehaviour::MissingOutput(warden_defs::ghcb::Field::SwExitInfo1));
    assert_eq!(run_exit(&no_status, false), Some(Outcome::In(Err(missing))));
    super::ghcb_fields(&in_byte);
    super::ghcb_fields(&no_status);
}

/// Which exit and which result class an outcome is, for the corpus census.
fn class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::In(Ok(_)) => "in ok",
        Outcome::Unit(Ok(())) => "out/wrmsr ok",
        Outcome::Cpuid(Ok(_)) => "cpuid ok",
        Outcome::Rdmsr(Ok(_)) => "rdmsr ok",
        Outcome::Psc(Ok(()), _) => "psc ok",
        Outcome::Psc(Err(AcceptError::PscResponse(_)), _) => "psc forged header",
        Outcome::Psc(Err(AcceptError::PscRefused(_)), None) => "psc refused",
        Outcome::Psc(Err(_), Some(_)) => "psc misbehaved",
        Outcome::Psc(Err(_), None) => "psc other error",
        Outcome::MsrProtocol { accepted } if *accepted > 0 => "msr protocol accepted",
        Outcome::MsrProtocol { .. } => "msr protocol refused",
        Outcome::In(Err(e)) | Outcome::Unit(Err(e)) | Outcome::Cpuid(Err(e)) | Outcome::Rdmsr(Err(e)) => {
            match e {
                ExitError::Exception(_) => "exception",
                ExitError::Hypervisor(_) => "hypervisor error",
                ExitError::Misbehaved(Misbehaviour::MissingOutput(_)) => "missing output",
                ExitError::Misbehaved(Misbehaviour::BadException(_)) => "bad exception",
                ExitError::Misbehaved(Misbehaviour::UnknownStatus(_)) => "unknown status",
                ExitError::Misbehaved(Misbehaviour::UnexpectedException(_)) => "unexpected exception",
            }
        }
    }
}

#[test]
fn the_seeds_reach_every_exit_and_every_error_path() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ghcb_fields");
    let mut reached: Vec<&str> = std::fs::read_dir(&dir)
        .expect("the seed corpus")
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .filter_map(|seed| run_exit(&seed, false))
        .map(|outcome| class(&outcome))
        .collect();
    reached.sort_unstable();
    reached.dedup();
    let wanted = [
        "bad exception",
        "cpuid ok",
        "exception",
        "hypervisor error",
        "in ok",
        "missing output",
        "msr protocol accepted",
        "out/wrmsr ok",
        "psc forged header",
        "psc misbehaved",
        "psc ok",
        "psc refused",
        "rdmsr ok",
        "unknown status",
    ];
    for class in wanted {
        assert!(reached.contains(&class), "no seed reaches {class}: {reached:?}");
    }
}
