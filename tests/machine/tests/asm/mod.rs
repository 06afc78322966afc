//! The hand assembly the machine's rule tests share: instruction encodings (AMD64 APM vol. 3) and a
//! register read.
#![allow(dead_code)] // each test file uses a different subset

use unicorn_engine::RegisterX86;
use warden_machine::machine::Machine;

pub const RAX: u8 = 0;
pub const RCX: u8 = 1;
pub const RDX: u8 = 2;
pub const RBX: u8 = 3;
pub const PVALIDATE: [u8; 4] = [0xF2, 0x0F, 0x01, 0xFF];
pub const RMPADJUST: [u8; 4] = [0xF3, 0x0F, 0x01, 0xFE];
pub const VMGEXIT: [u8; 4] = [0xF3, 0x0F, 0x01, 0xD9];
pub const WRMSR: [u8; 2] = [0x0F, 0x30];
pub const RDMSR: [u8; 2] = [0x0F, 0x32];
pub const HLT: u8 = 0xF4;

/// mov r64, imm64 (REX.W [+B] B8+r).
pub fn mov_imm64(reg: u8, v: u64) -> Vec<u8> {
    let mut b = vec![if reg >= 8 { 0x49 } else { 0x48 }, 0xB8 + (reg & 7)];
    b.extend_from_slice(&v.to_le_bytes());
    b
}

/// A register of the machine's CPU.
pub fn reg(m: &Machine<'_>, r: RegisterX86) -> u64 {
    m.uc.reg_read(r).unwrap()
}
