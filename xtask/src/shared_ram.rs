//! QEMU's guest RAM shared with this process: a file QEMU maps as the machine's memory
//! (`-object memory-backend-file,share=on`, `-machine memory-backend=`) and the bridge maps too, so the
//! bridge can write a call into guest memory as a guest would (`bridge.rs`).
//!
//! On q35 the RAM below the PCI hole sits at the start of the backend, file offset = guest-physical
//! address; the hole starts at 2 GiB at the lowest (more RAM than 2.75 GiB moves it there), so only GPAs
//! below [`LOW_MEMORY_END`] are reached, which is where the bridge's calling area and buffers are.
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{Ordering, fence};

/// Where q35's low RAM ends at the lowest: below it, file offset = GPA.
pub const LOW_MEMORY_END: u64 = 0x8000_0000;

/// The mapped file.
#[derive(Debug)]
pub struct SharedRam {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value (unmapped on drop); moving it to another thread
// moves that ownership. It is not `Sync`: one thread at a time calls through it.
unsafe impl Send for SharedRam {}

impl SharedRam {
    /// Creates `path` as `bytes` of zeros (sparse) and maps it shared, before QEMU starts on it. The
    /// caller removes the name once QEMU has opened the file; the mapping lives on.
    pub fn create(path: &Path, bytes: u64) -> crate::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|error| format!("cannot create the guest RAM file {}: {error}", path.display()))?;
        file.set_len(bytes)?;
        let len = usize::try_from(bytes)?;
        // SAFETY: a fresh shared read-write mapping of a file we opened read-write, at an address the
        // kernel picks; nothing else in this process refers to that range.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("cannot map {}: {}", path.display(), std::io::Error::last_os_error()).into());
        }
        Ok(Self { base: base.cast(), len })
    }

    /// The offset of `[gpa, gpa + len)` in the file, if it lies in low RAM.
    fn offset(&self, gpa: u64, len: usize) -> crate::Result<usize> {
        let end = gpa.checked_add(len as u64).ok_or("guest address overflows")?;
        if end > LOW_MEMORY_END || end > self.len as u64 {
            return Err(format!("{gpa:#x}+{len:#x} is outside the shared low RAM").into());
        }
        Ok(usize::try_from(gpa)?)
    }

    /// Copies `data` to guest-physical `gpa`, then orders it before whatever signals the guest next.
    pub fn write(&mut self, gpa: u64, data: &[u8]) -> crate::Result {
        let offset = self.offset(gpa, data.len())?;
        // SAFETY: `offset + data.len()` is inside the mapping (checked); the guest may touch the same
        // bytes concurrently, which for plain bytes is at worst a torn value, and the doorbell protocol
        // keeps the firmware off them until rung.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(offset), data.len()) };
        fence(Ordering::SeqCst);
        Ok(())
    }

    /// Copies `buf.len()` bytes from guest-physical `gpa`, after the firmware's answer arrived.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> crate::Result {
        let offset = self.offset(gpa, buf.len())?;
        fence(Ordering::SeqCst);
        // SAFETY: as for `write`, the other way.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }
}

impl Drop for SharedRam {
    fn drop(&mut self) {
        // SAFETY: the mapping `create` made, unmapped once; no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::SharedRam;

    #[test]
    fn writes_land_in_the_file_at_the_gpa_and_bounds_hold() {
        let path = std::env::temp_dir().join(format!("warden-shared-ram-test-{}", std::process::id()));
        let mut ram = SharedRam::create(&path, 0x4000).unwrap();
        ram.write(0x1ffe, &[1, 2, 3, 4]).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert_eq!(&file[0x1ffe..0x2002], &[1, 2, 3, 4]);
        let mut back = [0u8; 4];
        ram.read(0x1ffe, &mut back).unwrap();
        assert_eq!(back, [1, 2, 3, 4]);
        assert!(ram.write(0x3ffd, &[0; 4]).is_err(), "past the end");
        assert!(ram.read(u64::MAX - 1, &mut back).is_err(), "overflow");
        std::fs::remove_file(&path).unwrap();
        ram.write(0, &[5]).unwrap();
        ram.read(0, &mut back[..1]).unwrap();
        assert_eq!(back[0], 5, "the mapping outlives the file's name");
    }
}
