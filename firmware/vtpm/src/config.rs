//! The configuration the firmware runs its vTPM with, as one value: the kernel builds its engine with
//! [`Tpm::firmware`](crate::Tpm::firmware) and the host tests drive that very configuration with a
//! clock they move by hand.

/// Dictionary-attack parameters (TPM 2.0 Part 1 §19.8; Part 3 §25.3 TPM2_DictionaryAttackParameters).
/// Times are in seconds of the engine's [`Clock`](crate::Clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaParameters {
    /// Failures of DA-protected authorizations before lockout (TPM_PT_MAX_AUTH_FAIL).
    pub max_tries: u32,
    /// Seconds per forgiven failure (TPM_PT_LOCKOUT_INTERVAL); 0 disables DA protection.
    pub recovery_time: u32,
    /// Seconds lockoutAuth stays blocked after a failure (TPM_PT_LOCKOUT_RECOVERY); 0: until Startup.
    pub lockout_recovery: u32,
}

impl DaParameters {
    /// ms-tpm-20-ref's manufacturing defaults (DAPreInstall_Init): 3 tries, 1000 s, 1000 s.
    pub const REFERENCE: DaParameters =
        DaParameters { max_tries: 3, recovery_time: 1000, lockout_recovery: 1000 };
}

/// What the firmware's vTPM is manufactured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareConfig {
    /// The DA parameters at manufacture and after TPM2_Clear.
    pub da: DaParameters,
}

impl FirmwareConfig {
    /// The firmware's choice. A guest OS mistyping a PIN (or a boot script with a stale password) gets
    /// 32 tries before lockout (the Windows default), one forgiven every 10 minutes; a wrong lockoutAuth
    /// blocks lockoutAuth for an hour rather than until the next boot. These only mean anything because
    /// the firmware gives the engine a running clock (the kernel's TSC clock).
    pub const FIRMWARE: FirmwareConfig =
        FirmwareConfig { da: DaParameters { max_tries: 32, recovery_time: 600, lockout_recovery: 3600 } };
}
