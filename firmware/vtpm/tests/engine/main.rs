//! The engine's integration tests, one module per subject: the command pipeline, sessions and
//! parameter encryption, PCRs, NV, hierarchies, hashing and policies (TPM 2.0 Part 3 chapters).

#[path = "../common/mod.rs"]
mod common;
#[path = "../key_helpers/mod.rs"]
mod key_helpers;

mod admin_controls;
mod audit;
mod capability;
mod dispatch;
mod firmware_config;
mod handle_limits;
mod hash_seq;
mod hierarchy;
mod hierarchy_seeds;
mod kernel_boot;
mod layering;
mod linux_hmac;
mod measured_boot;
mod nv;
mod nv_admin;
mod param_enc;
mod pcr;
mod pcr_allocate;
mod persistence;
mod platform_eps;
mod policy;
mod policy_external;
mod policy_nv;
mod policy_template;
mod rsa_blinding;
mod salted;
mod seq_session;
mod session;
mod session_seeds;
mod startup;
mod test_parms;
