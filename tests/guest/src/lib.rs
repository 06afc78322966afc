//! The test guest's pure logic, host-tested: the boot information and the platform it names, the
//! verdict bookkeeping, the attestation step's nonce,
//! sizes and REPORT_DATA binding (SNP report or TDREPORT), the PVALIDATE request list, the
//! secrets-page copy check, the vTPM buffer, the TPM 2.0 commands it sends (`tpm_commands`, and
//! `state_commands` for the state that must survive a reboot), and the start state of the
//! vCPU it creates. The binary (`main.rs`) adds the instructions and the steps; nothing here touches
//! the machine.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod boot_info;
pub mod ek_command;
pub mod evidence;
pub mod launch_event;
pub mod pvalidate_list;
pub mod secrets_page;
pub mod state_commands;
pub mod tpm_commands;
pub mod vcpu_state;
pub mod verdict;
pub mod vtpm_buffer;
