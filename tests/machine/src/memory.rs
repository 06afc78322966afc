//! Guest RAM, its two views and the C-bit.
//!
//! Unicorn's MMU has a 40-bit physical address width (`tests/unicorn_probes.rs`), so the machine puts
//! the C-bit at 39 and maps every RAM page twice: the **private view** (C=1) at `PRIVATE_BASE + gpa`,
//! holding the plaintext, and the **shared view** (C=0) at `gpa`. What SEV-SNP does to each access
//! is modelled with page protections, so correct accesses run at full emulation speed with no hook:
//! - private view: usable (with the current VMPL's RMP permissions) only when the RMP says assigned
//!   and validated; otherwise no access, and the fault is classified after the fact: not validated →
//!   #VC 0x404, not assigned → nested page fault (the machine stops), no VMPL permission → stop;
//! - shared view of a private page: reads return ciphertext (pseudo-random bytes, never the
//!   plaintext); the first write through it corrupts the private page (as a write with the wrong key
//!   does); instruction fetches stop the machine (SNP fetches code as private only);
//! - shared view of a hypervisor-owned page: ordinary memory.
//!
//! Before the boot stub turns paging on, every access is private (AMD64 APM vol. 2 §15.34: with
//! paging off, SEV guest accesses use the guest key), but unicorn sends them to the shared view; so
//! the shared view holds the plaintext until the stub's `mov cr0` that sets PG, when the machine
//! copies it into the private view and turns the shared view of private pages into ciphertext
//! ([`end_paging_off_phase`]).
use unicorn_engine::Unicorn;
use unicorn_engine::unicorn_const::{Prot, uc_error};
use warden_platform::memory::VmplPerms;
use warden_sim::snp::SimSnp;

/// The C-bit position the machine reports (the highest physical address bit unicorn's MMU honours).
pub const C_BIT: u8 = 39;
/// The emulated MMU's physical address width.
pub const PHYS_ADDR_BITS: u32 = 40;
/// Where the private view starts: the C-bit.
pub const PRIVATE_BASE: u64 = 1 << C_BIT;
/// Guest RAM: [0, 256 MiB).
pub const RAM: (u64, u64) = (0, 256 << 20);
/// The top 2 MiB below 4 GiB, where the boot ROM pages live (boot stub and its directory).
pub const ROM: (u64, u64) = (0xFFE0_0000, 0x1_0000_0000);
/// The two regions, as (start, end).
pub const REGIONS: [(u64, u64); 2] = [RAM, ROM];
const PAGE: u64 = 4096;
/// The size of each unicorn memory region.
const CHUNK: u64 = 2 << 20;

/// The protections the machine has set on each page of both views, so it changes only what differs.
#[derive(Debug, Default)]
pub struct Views {
    /// Per region, per page: (private, shared) protection bits.
    prot: Vec<Vec<(u32, u32)>>,
    /// Still before the stub turned paging on.
    pub paging_off_phase: bool,
}

impl Views {
    /// The machine made the shared view of `gpa` writable after a C=0 write corrupted the page.
    pub fn note_shared_writable(&mut self, gpa: u64) {
        for (r, &(s, e)) in REGIONS.iter().enumerate() {
            if gpa >= s && gpa < e {
                self.prot[r][((gpa - s) / PAGE) as usize].1 = Prot::ALL.0;
            }
        }
    }
}

/// Which view an address is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// C=1.
    Private(u64),
    /// C=0.
    Shared(u64),
}

/// The view and GPA of a physical address, if it is guest RAM.
pub fn classify(pa: u64) -> Option<View> {
    let (view, gpa) = if pa >= PRIVATE_BASE { (true, pa - PRIVATE_BASE) } else { (false, pa) };
    REGIONS.iter().any(|&(s, e)| gpa >= s && gpa < e).then_some(if view {
        View::Private(gpa)
    } else {
        View::Shared(gpa)
    })
}

/// Maps both views of every region, all shared (hypervisor-owned) and writable.
pub fn map<D>(uc: &mut Unicorn<'_, D>) -> Result<Views, uc_error> {
    let mut prot = Vec::new();
    for (s, e) in REGIONS {
        // In 2 MiB pieces: unicorn splits a region to change one page's protection by copying the
        // whole region, which for one 256 MiB region costs seconds per change.
        for chunk in (s..e).step_by(CHUNK as usize) {
            uc.mem_map(chunk, CHUNK, Prot::ALL)?;
            uc.mem_map(PRIVATE_BASE + chunk, CHUNK, Prot::NONE)?;
        }
        prot.push(vec![(Prot::NONE.0, Prot::ALL.0); ((e - s) / PAGE) as usize]);
    }
    Ok(Views { prot, paging_off_phase: true })
}

/// What the private view of `gpa` allows `vmpl`, from the RMP.
fn private_prot(snp: &SimSnp, gpa: u64, vmpl: u8) -> Prot {
    let (e, _) = snp.rmp_entry(gpa);
    if !e.assigned || !e.validated {
        return Prot::NONE;
    }
    let perms = if vmpl == 0 { VmplPerms::ALL } else { e.perms[usize::from(vmpl - 1).min(2)] };
    let mut p = Prot::NONE.0;
    if perms.contains(VmplPerms::READ) {
        p |= Prot::READ.0;
    }
    if perms.contains(VmplPerms::WRITE) {
        p |= Prot::WRITE.0;
    }
    if perms.contains(VmplPerms::EXEC_SUPERVISOR) || perms.contains(VmplPerms::EXEC_USER) {
        p |= Prot::EXEC.0;
    }
    Prot(p)
}

/// Recomputes both views' protections for [start, end) from the RMP for `vmpl`.
pub fn refresh<D>(
    uc: &mut Unicorn<'_, D>,
    views: &mut Views,
    snp: &SimSnp,
    vmpl: u8,
    start: u64,
    end: u64,
) -> Result<(), uc_error> {
    for (r, &(rs, re)) in REGIONS.iter().enumerate() {
        let (s, e) = (start.max(rs), end.min(re));
        let mut gpa = s & !(PAGE - 1);
        while gpa < e {
            let i = ((gpa - rs) / PAGE) as usize;
            let assigned = snp.rmp_entry(gpa).0.assigned;
            let want = if views.paging_off_phase {
                (private_prot(snp, gpa, vmpl).0, Prot::ALL.0)
            } else {
                (private_prot(snp, gpa, vmpl).0, if assigned { Prot::READ.0 } else { Prot::ALL.0 })
            };
            if views.prot[r][i] != want {
                // Extend the run of pages that want the same protections.
                let mut run_end = gpa + PAGE;
                while run_end < e {
                    let j = ((run_end - rs) / PAGE) as usize;
                    let a = snp.rmp_entry(run_end).0.assigned;
                    let w = if views.paging_off_phase {
                        (private_prot(snp, run_end, vmpl).0, Prot::ALL.0)
                    } else {
                        (private_prot(snp, run_end, vmpl).0, if a { Prot::READ.0 } else { Prot::ALL.0 })
                    };
                    if w != want || views.prot[r][j] == want {
                        break;
                    }
                    run_end += PAGE;
                }
                uc.mem_protect(PRIVATE_BASE + gpa, run_end - gpa, Prot(want.0))?;
                uc.mem_protect(gpa, run_end - gpa, Prot(want.1))?;
                for g in (gpa..run_end).step_by(PAGE as usize) {
                    views.prot[r][((g - rs) / PAGE) as usize] = want;
                }
                gpa = run_end;
            } else {
                gpa += PAGE;
            }
        }
    }
    Ok(())
}

/// Ciphertext: what a C=0 read of a private page returns. Deterministic per page and generation.
pub fn ciphertext(gpa: u64, generation: u64) -> Vec<u8> {
    let mut x = gpa ^ generation.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(PAGE as usize);
    for _ in 0..PAGE / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Reads private plaintext (the machine's own access, no protection applies).
pub fn read_private<D>(uc: &Unicorn<'_, D>, gpa: u64, buf: &mut [u8]) -> Result<(), uc_error> {
    uc.mem_read(PRIVATE_BASE + gpa, buf)
}

/// Writes private plaintext.
pub fn write_private<D>(uc: &mut Unicorn<'_, D>, gpa: u64, buf: &[u8]) -> Result<(), uc_error> {
    uc.mem_write(PRIVATE_BASE + gpa, buf)
}

/// Paging is on: copy what the stub wrote (to the shared view, which unicorn used with paging off)
/// into the private view of every assigned page, and make the shared view of those pages ciphertext.
pub fn end_paging_off_phase<D>(
    uc: &mut Unicorn<'_, D>,
    views: &mut Views,
    snp: &SimSnp,
) -> Result<(), uc_error> {
    let mut buf = vec![0u8; PAGE as usize];
    for (s, e) in REGIONS {
        for gpa in (s..e).step_by(PAGE as usize) {
            if snp.rmp_entry(gpa).0.assigned {
                uc.mem_read(gpa, &mut buf)?;
                uc.mem_write(PRIVATE_BASE + gpa, &buf)?;
                uc.mem_write(gpa, &ciphertext(gpa, 0))?;
            }
        }
    }
    views.paging_off_phase = false;
    for (s, e) in REGIONS {
        refresh(uc, views, snp, 0, s, e)?;
    }
    Ok(())
}
