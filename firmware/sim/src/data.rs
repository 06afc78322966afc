//! Sparse guest-page contents: only pages that were written hold bytes; every other page reads zero.
use std::collections::BTreeMap;

use crate::PAGE;

/// Contents by guest frame number.
#[derive(Debug, Default)]
pub(crate) struct PageData {
    pages: BTreeMap<u64, Box<[u8; PAGE as usize]>>,
}

impl PageData {
    /// Copies out `buf.len()` bytes at `gpa` (the caller checked access rights).
    pub(crate) fn read(&self, gpa: u64, buf: &mut [u8]) {
        let mut done = 0usize;
        while done < buf.len() {
            let addr = gpa + done as u64;
            let off = (addr % PAGE) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            match self.pages.get(&(addr / PAGE)) {
                Some(page) => buf[done..done + n].copy_from_slice(&page[off..off + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Copies `buf` in at `gpa`.
    pub(crate) fn write(&mut self, gpa: u64, buf: &[u8]) {
        let mut done = 0usize;
        while done < buf.len() {
            let addr = gpa + done as u64;
            let off = (addr % PAGE) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            let page = self.pages.entry(addr / PAGE).or_insert_with(|| Box::new([0; PAGE as usize]));
            page[off..off + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
    }

    /// Forgets (zeroes) every page in `[gpa, gpa + len)`; cheap when nothing there was written.
    pub(crate) fn clear(&mut self, gpa: u64, len: u64) {
        let first = gpa / PAGE;
        let last = (gpa + len).div_ceil(PAGE);
        let doomed: Vec<u64> = self.pages.range(first..last).map(|(k, _)| *k).collect();
        for k in doomed {
            self.pages.remove(&k);
        }
    }
}
