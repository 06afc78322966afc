//! Warden's vTPM engine: a pure-Rust TPM 2.0 that turns one command buffer into one response buffer.
//!
//! # Design
//!
//! 1. **No I/O.** The engine owns no device, socket or page: the SVSM vTPM protocol (firmware) and the
//!    `mssim` TCP server (host) both hand it a byte slice and send back the `Vec<u8>` it returns.
//!    Randomness comes from an [`EntropySource`] and time from an optional [`Clock`].
//! 2. **Every command byte is hostile.** The buffer is parsed with a bounds-checked big-endian
//!    [`wire::marshal::Reader`]; nothing indexes or unwraps on its content, and every failure maps to
//!    the TPM_RC that TPM 2.0 Part 3 prescribes, numbered with the handle, parameter or session at fault.
//! 3. **Hand-written marshalling.** `tpm2-protocol` (no_std, no alloc) was considered, but it needs
//!    Rust 1.95 while the workspace promises 1.88, and this engine uses a small subset of Part 2: a
//!    ~150-line reader/writer plus zerocopy headers keeps the trusted code small and ours to audit.
//! 4. **State lives in memory; its NV-resident part can be kept across boots.** The engine does no I/O:
//!    `persistence` turns the state TPM 2.0 Part 1 §37 makes durable into a sealed blob and back, and
//!    its `StateKeeper` loads it at _TPM_Init and stores it after every change through storage the
//!    firmware provides. A `Shutdown(STATE)` snapshot lives in RAM only.
//! 5. **Codes and check order follow ms-tpm-20-ref** (`ExecuteCommand`, `ParseSessionBuffer`,
//!    `CheckAuthSession`, `NvDefineSpace`, DA.c), so clients tested against the reference simulator
//!    see the same TPM_RC for the same mistake.
//! 6. **Secrets.** Randomness is HMAC_DRBG (SHA-256) seeded from the entropy source and reseeded at
//!    every Startup. Context blobs are AES-256-CFB encrypted and HMAC-SHA256 protected with keys
//!    derived from a secret drawn at every TPM Reset (`state::context_keys`). Debug output never shows
//!    secrets, and freed memory never holds them: every secret-holding type wipes itself on drop
//!    (`zeroize`; `crypto::SecretBytes` for temporaries). RSA private-key operations are blinded.
//!    Threat model T5: the guest's command bytes are hostile; the `vtpm_command` fuzz target and the
//!    tests in `tests/` check that every input gets a well-formed answer.
//! 7. **No `unsafe`.** `#![forbid(unsafe_code)]`: the engine is plain logic over byte slices.
//!
//! # Layout and layering
//!
//! The tree follows the TPM 2.0 Library specification, lowest layer first:
//!
//! - `wire`: Part 2 marshalling, response codes and constants. Uses nothing else in the crate.
//! - `crypto`: hashes, HMAC, KDFa, AES (CFB, CBC, ECB, CTR, OFB), the DRBG, seeded key streams. Uses
//!   only `wire`.
//! - `object`: public and sensitive areas, key material, creation and wrapping under a parent,
//!   secrets shared with a key, signing (Part 1 §23, §27).
//! - `state`: PCRs, NV, hierarchies, dictionary attack, time, sessions, one transient-object table for
//!   sequences and keys, persistent keys, context keys, tickets, command audit, ECDAA commitments. `state` and `object` never use
//!   `engine` or `commands`.
//! - `commands`: one module per Part 3 chapter (`startup` ch. 9 ... `nv` ch. 31). A command module
//!   never uses another; what two chapters share lives in a lower layer.
//! - `config`: the configuration the firmware manufactures its TPM with (`FirmwareConfig`). Uses nothing.
//! - `endorsement_seed`: the endorsement primary seed the firmware derives from its platform
//!   (`EndorsementSeed`), so the EK is stable without storage. Uses nothing else in the crate.
//! - `persistence`: the NV-resident state as a sealed blob and the keeper that loads and stores it
//!   (state that survives a reboot). Uses `wire`, `crypto`, `state` and the `Tpm`, never `commands`.
//! - `event_log`: the TCG crypto-agile event log (TCG PC Client PFP §10.2), written and parsed back.
//!   Uses `crypto` and `wire`.
//! - `measured_boot`: the firmware's H-CRTM start-up, its PCR 0/1 measurements and their event log
//!   (`Tpm::measured_startup`). Uses `event_log`, `crypto`, `wire` and the PCRs of `state`.
//! - `engine`: the Part 3 §5 pipeline common to every command: header, command table (metadata
//!   only), handle checks, authorization, parameter encryption, routing, response. Only
//!   `engine::routing` names the commands.
//!
//! `tests/engine/layering.rs` checks these rules on the source text.
//!
//! Hashes: SHA-1, SHA-256 and SHA-384, everywhere a hash is taken (TPM2_Hash, hash, HMAC and event
//! sequences, Name algorithms, HMAC keys, signing schemes, sessions, PCR banks).
//!
//! PCR banks: one per hash, 24 PCRs each. The TCG PC Client Platform TPM Profile asks for SHA-1 and
//! SHA-256 banks and leaves the shipped allocation to the manufacturer; Warden allocates all three banks
//! by default, as ms-tpm-20-ref does (IMA and older measured-boot tools read SHA-1, current ones SHA-256,
//! and SHA-384 was this TPM's bank before SHA-1 was added). TPM2_PCR_Allocate changes the allocation from the next
//! TPM2_Startup(CLEAR) (`state::pcr`).
//!
//! Implemented: the commands in `engine::command_table::COMMANDS`; password, HMAC (bound or unbound)
//! and policy sessions, audit sessions; AES-CFB parameter encryption; command audit; dictionary-attack
//! protection; key objects: primaries derived from per-hierarchy seeds, ECC P-256/P-384, RSA-1024 and
//! RSA-2048, keyed-hash (HMAC, XOR) and symcipher objects (AES-128/256 in CFB, CBC, ECB, CTR, OFB, or
//! mode NULL chosen at use), child keys wrapped under their storage parent, ECDSA/ECDAA/RSASSA/
//! RSAPSS/HMAC signatures,
//! Quote, Certify, Unseal, persistent objects (EvictControl, in RAM like NV), ECC/RSA-salted
//! sessions, LoadExternal, Import, Make/ActivateCredential, GetTime, RSA_Encrypt/Decrypt (RSAES,
//! OAEP, raw), ECDH_KeyGen/ZGen, TPM2_HMAC and EncryptDecrypt(2); the policy commands of
//! `commands::enhanced_auth`, with expirations and TPMT_TK_AUTH tickets; Duplicate, ChangeEPS/ChangePPS,
//! EC_Ephemeral, NV_Certify, NV_ChangeAuth and NV_UndefineSpaceSpecial. Not implemented:
//! PolicyPhysicalPresence, derivation parents (XOR keyed-hash objects are created and loaded but
//! derive nothing), ECDAA in the attestation commands (TPM2_Sign only);
//! those requests get the proper error codes.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod commands;
pub mod config;
pub mod crypto;
mod endorsement_seed;
mod engine;
pub mod event_log;
pub mod measured_boot;
mod object;
pub mod persistence;
mod state;
pub mod wire;

pub use config::FirmwareConfig;
pub use endorsement_seed::EndorsementSeed;
pub use wire::alg_id::AlgId;
pub use wire::command_code::CommandCode;
pub use wire::handle::Handle;
pub use wire::response_code::ResponseCode;

use alloc::boxed::Box;
use alloc::vec::Vec;

/// Largest command the engine accepts (fits one SVSM vTPM page, which allows at most 4087; the same
/// figure libtcgtpm advertises, 4096 - 0x80).
pub const MAX_COMMAND_SIZE: usize = 3968;
/// Largest response the engine produces (fits one SVSM vTPM page, which allows at most 4092).
pub const MAX_RESPONSE_SIZE: usize = 3968;

/// Randomness for the TPM (RDRAND in the firmware, the OS on the host).
pub trait EntropySource {
    /// Fills `out` with fresh random bytes.
    fn fill_bytes(&mut self, out: &mut [u8]);
}

/// Monotonic time for TPM2_ReadClock, expirations and dictionary-attack recovery. Without one, time
/// stands still: the firmware always gives one ([`Tpm::firmware`]).
pub trait Clock {
    /// Milliseconds since an arbitrary fixed origin; never decreases.
    fn now_ms(&mut self) -> u64;
}

/// Where the TPM is in its power cycle (Part 1 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    /// Manufactured but never powered: nothing is accepted.
    Off,
    /// After _TPM_Init: only TPM2_Startup is accepted.
    NeedStartup,
    /// After TPM2_Startup.
    Operational,
}

/// A TPM 2.0 instance. All state lives in memory.
pub struct Tpm {
    entropy: Box<dyn EntropySource + Send>,
    clock: Option<Box<dyn Clock + Send>>,
    drbg: crypto::drbg::Drbg,
    power: Power,
    /// Set when a self-test failed: the TPM answers TPM_RC_FAILURE to all but GetTestResult/GetCapability.
    failed: bool,
    /// Locality of the command being executed.
    locality: u8,
    pcrs: state::pcr::Pcrs,
    nv: state::nv::NvStore,
    hier: state::hierarchy::Hierarchies,
    da: state::dictionary_attack::DictionaryAttack,
    sessions: state::sessions::Sessions,
    /// Loaded objects: sequences and keys.
    objects: state::transient::TransientObjects,
    /// Primary seeds, loaded and persistent key objects.
    keys: state::key_store::KeyStore,
    contexts: state::context_keys::ContextKeys,
    time: state::clock::TimeState,
    /// Command audit: the audited codes, the audit digest and counter (Part 1 §33).
    audit: state::command_audit::CommandAudit,
    /// The ECDAA commit nonce, counter and outstanding commitments (Part 3 §19.2).
    commit: state::commit::CommitState,
    /// The orderly shutdown since the last Startup, if any, and the state it saved.
    shutdown: Option<state::saved_state::SavedState>,
}

impl core::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Secrets (auth values, seeds, the DRBG) stay out of debug output.
        f.debug_struct("Tpm")
            .field("power", &self.power)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Tpm {
    /// A freshly manufactured TPM (seeds from `entropy`), powered off.
    pub fn new(mut entropy: Box<dyn EntropySource + Send>) -> Tpm {
        let mut drbg = crypto::drbg::Drbg::new(entropy.as_mut(), b"Warden vTPM manufacture");
        let hier = state::hierarchy::Hierarchies::manufacture(&mut drbg, entropy.as_mut());
        let contexts = state::context_keys::ContextKeys::new(&mut drbg, entropy.as_mut());
        let keys = state::key_store::KeyStore::manufacture(&mut drbg, entropy.as_mut());
        Tpm {
            entropy,
            clock: None,
            drbg,
            power: Power::Off,
            failed: false,
            locality: 0,
            pcrs: state::pcr::Pcrs::new(),
            nv: state::nv::NvStore::default(),
            hier,
            da: state::dictionary_attack::DictionaryAttack::default(),
            sessions: state::sessions::Sessions::default(),
            objects: state::transient::TransientObjects::default(),
            keys,
            contexts,
            time: state::clock::TimeState::default(),
            audit: state::command_audit::CommandAudit::default(),
            commit: state::commit::CommitState::default(),
            shutdown: None,
        }
    }

    /// The TPM the firmware runs: manufactured with `config` and the platform's `endorsement` seed,
    /// timed by `clock`, powered on (the next command must be TPM2_Startup). Without a running clock,
    /// policy expirations, tickets and dictionary-attack recovery would never progress, and without the
    /// platform's seed the EK would change at every boot, so the firmware's constructor requires both.
    pub fn firmware(
        entropy: Box<dyn EntropySource + Send>,
        clock: Box<dyn Clock + Send>,
        config: &FirmwareConfig,
        endorsement: &EndorsementSeed,
    ) -> Tpm {
        let mut tpm = Tpm::new(entropy);
        tpm.set_endorsement_seed(endorsement);
        tpm.da = state::dictionary_attack::DictionaryAttack::manufacture(config.da);
        tpm.set_clock(clock);
        tpm.power_on();
        tpm
    }

    /// Replaces the endorsement primary seed (EPS) with one the firmware derives from a platform secret
    /// ([`EndorsementSeed`]), so the EK and every endorsement primary stay the same across boots of the
    /// same image instead of changing with the random seed made at manufacture. Call it before the first
    /// command; it forgets the endorsement hierarchy's loaded keys and remembered primaries, which came
    /// from the old seed. The EPS is then the platform's for good: TPM2_ChangeEPS is not offered, a
    /// stored state must carry this EPS, and manufacturing anew keeps it (`persistence`).
    pub fn set_endorsement_seed(&mut self, seed: &EndorsementSeed) {
        self.keys.set_endorsement_seed(seed.bytes());
        self.objects.flush_keys_of(wire::handle::Handle::RH_ENDORSEMENT);
    }

    /// Gives the TPM a time source (ReadClock, dictionary-attack recovery). Optional.
    pub fn set_clock(&mut self, clock: Box<dyn Clock + Send>) {
        self.clock = Some(clock);
        let now = self.now_ms();
        self.time.set_origin(now);
    }

    /// A copy of this TPM with its own entropy source and no clock. INSECURE: the copy has the same
    /// seeds, proofs, authValues and DRBG state as the original, so the two are one TPM twice. For
    /// tests and fuzzing, where one started TPM is forked per input instead of manufacturing anew.
    pub fn insecure_fork(&self, entropy: Box<dyn EntropySource + Send>) -> Tpm {
        Tpm {
            entropy,
            clock: None,
            drbg: self.drbg.clone(),
            power: self.power,
            failed: self.failed,
            locality: self.locality,
            pcrs: self.pcrs.clone(),
            nv: self.nv.clone(),
            hier: self.hier.clone(),
            da: self.da.clone(),
            sessions: self.sessions.clone(),
            objects: self.objects.clone(),
            keys: self.keys.clone(),
            contexts: self.contexts.clone(),
            time: self.time.clone(),
            audit: self.audit.clone(),
            commit: self.commit.clone(),
            shutdown: self.shutdown.clone(),
        }
    }

    /// _TPM_Init: power on / reset; the next command must be TPM2_Startup. Repeating it is harmless.
    pub fn power_on(&mut self) {
        let now = self.now_ms();
        self.time.power_on(now);
        // Volatile state is lost at _TPM_Init: loaded sessions and objects. Saved session contexts stay
        // valid until the next TPM Reset (Part 1 §30.3), which Startup decides.
        self.sessions.drop_loaded();
        self.objects.clear();
        self.power = Power::NeedStartup;
    }

    /// One command in, one response out (locality 0). Never panics; malformed input gets the right
    /// TPM_RC response.
    pub fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.execute_at_locality(0, command)
    }

    /// As [`Tpm::execute`], from `locality` (0-4). The SVSM guest interface only ever uses 0.
    pub fn execute_at_locality(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.locality = locality;
        engine::execute::execute(self, command)
    }

    fn now_ms(&mut self) -> u64 {
        self.clock.as_mut().map_or(0, |c| c.now_ms())
    }

    /// Random bytes from the DRBG.
    fn random(&mut self, out: &mut [u8]) {
        self.drbg.generate(self.entropy.as_mut(), out);
    }
}

/// Deterministic entropy for host tests only. INSECURE: every TPM built from it has the same seeds.
pub mod insecure_test_entropy {
    /// An xorshift stream from a fixed seed. Never use it outside tests.
    #[derive(Debug, Clone)]
    pub struct InsecureTestEntropy(u64);

    impl InsecureTestEntropy {
        /// A stream starting at `seed` (0 is replaced by a fixed non-zero constant).
        pub fn new(seed: u64) -> Self {
            Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
        }
    }

    impl super::EntropySource for InsecureTestEntropy {
        fn fill_bytes(&mut self, out: &mut [u8]) {
            for b in out {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = (self.0 >> 24) as u8;
            }
        }
    }

    /// A clock the test moves by hand. INSECURE only in the sense that it is not real time.
    #[derive(Debug, Clone, Default)]
    pub struct InsecureTestClock(pub alloc::sync::Arc<core::sync::atomic::AtomicU64>);

    impl super::Clock for InsecureTestClock {
        fn now_ms(&mut self) -> u64 {
            self.0.load(core::sync::atomic::Ordering::Relaxed)
        }
    }
}
