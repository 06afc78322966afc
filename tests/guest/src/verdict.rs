//! The guest's verdict: every check counts as one step, and the last line says whether all passed.
//! The machine (`--smoke`) and the xtask look for the exact text of [`Verdict`]'s line.
use core::fmt;

use warden_defs::svsm::ResultCode;

/// How many checks ran and how many failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    steps: u32,
    failed: u32,
}

impl Tally {
    /// Records one check; answers the word its line prints.
    pub fn record(&mut self, passed: bool) -> &'static str {
        self.steps = self.steps.saturating_add(1);
        if passed {
            "PASS"
        } else {
            self.failed = self.failed.saturating_add(1);
            "FAIL"
        }
    }

    /// The verdict so far. No check at all is a failure: a guest that checked nothing proved nothing.
    pub fn verdict(&self) -> Verdict {
        if self.failed == 0 && self.steps > 0 {
            Verdict::Pass { steps: self.steps }
        } else {
            Verdict::Fail { failed: self.failed.max(1), steps: self.steps }
        }
    }
}

/// The final line's text after `guest: verdict: `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Pass {
        /// How many.
        steps: u32,
    },
    /// Some did not.
    Fail {
        /// How many failed.
        failed: u32,
        /// Out of how many.
        steps: u32,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass { steps } => write!(f, "PASS ({steps} steps)"),
            Verdict::Fail { failed, steps } => write!(f, "FAIL ({failed} of {steps} failed)"),
        }
    }
}

/// Whether a refused call was refused with one of the codes the protocol allows for that attack.
pub fn refused_with(result: ResultCode, allowed: &[ResultCode]) -> bool {
    result != ResultCode::SUCCESS && allowed.contains(&result)
}

/// A result code's name, for the step lines.
pub fn result_name(code: ResultCode) -> &'static str {
    match code {
        ResultCode::SUCCESS => "SUCCESS",
        ResultCode::INCOMPLETE => "INCOMPLETE",
        ResultCode::UNSUPPORTED_PROTOCOL => "UNSUPPORTED_PROTOCOL",
        ResultCode::UNSUPPORTED_CALL => "UNSUPPORTED_CALL",
        ResultCode::INVALID_ADDRESS => "INVALID_ADDRESS",
        ResultCode::INVALID_FORMAT => "INVALID_FORMAT",
        ResultCode::INVALID_PARAMETER => "INVALID_PARAMETER",
        ResultCode::INVALID_REQUEST => "INVALID_REQUEST",
        ResultCode::BUSY => "BUSY",
        ResultCode::PVALIDATE_FAIL_INPUT => "PVALIDATE_FAIL_INPUT",
        ResultCode::PVALIDATE_FAIL_PERMISSION => "PVALIDATE_FAIL_PERMISSION",
        ResultCode::PVALIDATE_FAIL_SIZEMISMATCH => "PVALIDATE_FAIL_SIZEMISMATCH",
        ResultCode::PVALIDATE_FAIL_NO_CHANGE => "PVALIDATE_FAIL_NO_CHANGE",
        _ => "unknown code",
    }
}

#[cfg(test)]
mod tests {
    use super::{Tally, refused_with};
    use warden_defs::svsm::ResultCode;

    #[test]
    fn all_passed_is_a_pass_with_the_step_count() {
        let mut tally = Tally::default();
        assert_eq!(tally.record(true), "PASS");
        assert_eq!(tally.record(true), "PASS");
        assert_eq!(tally.verdict().to_string(), "PASS (2 steps)");
    }

    #[test]
    fn one_failure_fails_the_verdict() {
        let mut tally = Tally::default();
        tally.record(true);
        assert_eq!(tally.record(false), "FAIL");
        tally.record(true);
        assert_eq!(tally.verdict().to_string(), "FAIL (1 of 3 failed)");
    }

    #[test]
    fn nothing_checked_is_not_a_pass() {
        assert_eq!(Tally::default().verdict().to_string(), "FAIL (1 of 0 failed)");
    }

    #[test]
    fn success_never_counts_as_a_refusal() {
        let allowed = [ResultCode::INVALID_ADDRESS, ResultCode::INVALID_PARAMETER];
        assert!(refused_with(ResultCode::INVALID_ADDRESS, &allowed));
        assert!(!refused_with(ResultCode::SUCCESS, &[ResultCode::SUCCESS]));
        assert!(!refused_with(ResultCode::UNSUPPORTED_CALL, &allowed));
    }
}
